// The prediction form's fields: the two map axes named after their columns, and one field per
// other column (a number, or a select of a categorical column's categories) holding the value
// the map and the predictions use for it. Changing one redraws the shown model's boundary.

import { make, ui } from "./dom.js";
import { featureList, isCategorical } from "./features.js";
import { hasMap } from "./plot-view.js";
import { setHeld } from "./state.js";

const MISSING = ""; // a select's or text field's value for a missing cell

/** The field for column `f`, showing `value` (null = missing). */
function heldControl(feature, f, value, table) {
  const id = `predict-held-${f}`;
  let control;
  if (isCategorical(feature) && feature.categories?.length) {
    control = make("select", { id });
    const options = [MISSING, ...feature.categories].map((category) =>
      make("option", { value: category, textContent: category || "(missing)" }),
    );
    if (value !== null && !feature.categories.includes(value)) {
      options.push(make("option", { value, textContent: value }));
    }
    control.replaceChildren(...options);
  } else if (isCategorical(feature)) {
    control = make("input", { id, type: "text", autocomplete: "off", placeholder: "(missing)" });
  } else {
    control = make("input", { id, type: "number", step: "any", inputMode: "decimal" });
    control.required = !table; // X/y models take numbers only
    if (table) control.placeholder = "median";
  }
  control.value = value ?? MISSING;
  control.dataset.feature = String(f);
  control.addEventListener("change", () => onHeldChange(control, feature, f));
  const field = make("div", { className: "field field-inline" });
  field.append(make("label", { htmlFor: id, textContent: feature.name }), control);
  return field;
}

function onHeldChange(control, feature, f) {
  if (!control.checkValidity()) return;
  let value = control.value === MISSING ? null : control.value;
  if (value !== null && !isCategorical(feature)) value = control.valueAsNumber;
  setHeld(f, value);
}

/** Name the axis fields and build the held columns' fields for `view` (null: a model alone). */
export function renderPredictFields(view) {
  const mapped = !view || hasMap(view);
  for (const [input, label, axis] of [
    [ui.predictX, ui.predictXLabel, 0],
    [ui.predictY, ui.predictYLabel, 1],
  ]) {
    input.closest(".field").hidden = !mapped;
    input.required = mapped;
    const named = view && hasMap(view) && (view.table || view.nFeatures > 2);
    label.textContent = named ? view.names[view.features[axis]] : axis ? "y" : "x";
  }
  const features = view?.columns ?? featureList({ n_features: view?.nFeatures ?? 2 });
  const fields = (view?.held ?? []).flatMap((value, f) =>
    value === undefined || !features[f] ? [] : [heldControl(features[f], f, value, view.table)],
  );
  ui.predictHeldFields.replaceChildren(...fields);
  ui.predictHeld.hidden = fields.length === 0;
  ui.predictHeldHint.textContent = view?.table
    ? "The map and the predictions use these values. An empty field is a missing value: " +
      "the model fills in its training median (numbers) or treats it as unknown."
    : "The map and the predictions use these values.";
}
