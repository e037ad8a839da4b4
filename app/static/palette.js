// The map's palette, read once from style.css's custom properties (--class-N, --ramp-N,
// --heat-tint, --contour). They equal app/palette.py, which the PNG uses; a test checks that.

let cached = null;

function readPalette() {
  const css = getComputedStyle(document.documentElement);
  const value = (name) => {
    const text = css.getPropertyValue(name).trim();
    if (!text) throw new Error(`style.css defines no ${name}`);
    return text;
  };
  const numbered = (prefix) => {
    const values = [];
    while (css.getPropertyValue(`${prefix}${values.length}`).trim()) {
      values.push(value(`${prefix}${values.length}`));
    }
    return values;
  };
  return {
    classes: numbered("--class-"),
    ramp: numbered("--ramp-"),
    tint: Number(value("--heat-tint")),
    contour: value("--contour"),
  };
}

/** {classes: ["#rrggbb"], ramp: ["#rrggbb"] (low to high), tint: 0..1, contour: CSS colour}. */
export function palette() {
  cached ??= readPalette();
  return cached;
}
