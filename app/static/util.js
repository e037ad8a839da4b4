// Small helpers with no knowledge of the page: timing and number formatting.

/** Resolve after `ms`, or as soon as `signal` aborts; leaves no listener behind either way. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** `fn` called once calls have paused for `ms`, with the last call's arguments. */
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export const percent = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : "–");
export const decimal = (x) => (Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : "–");
export const coordinate = (x) => Number(x.toPrecision(4));

/** A number input's value, or undefined when it is empty (the API then uses its default). */
export function numberValue(input) {
  return input.value.trim() === "" ? undefined : input.valueAsNumber;
}
