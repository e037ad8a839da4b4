// Marching squares: the zero level set of a field sampled on a regular grid, as line segments.

// For each corner code (bit 1: bottom-left > 0, 2: bottom-right, 4: top-right, 8: top-left),
// the pairs of cell edges the contour joins. Edges: 0 bottom, 1 right, 2 top, 3 left.
// Codes 5 and 10 are saddles, resolved with the cell's centre value below.
const EDGE_PAIRS = [
  [], [[3, 0]], [[0, 1]], [[3, 1]], [[1, 2]], null, [[0, 2]], [[3, 2]],
  [[3, 2]], [[0, 2]], null, [[1, 2]], [[3, 1]], [[0, 1]], [[3, 0]], [],
];

/**
 * Segments where `field` crosses zero.
 * @param {(i: number, j: number) => number} field value at grid point (i, j), i along x, j along y
 * @param {number} nx points along x
 * @param {number} ny points along y
 * @returns {number[][]} segments [i0, j0, i1, j1] in fractional grid coordinates
 */
export function contourSegments(field, nx, ny) {
  const segments = [];
  for (let j = 0; j < ny - 1; j += 1) {
    for (let i = 0; i < nx - 1; i += 1) {
      const a = field(i, j);
      const b = field(i + 1, j);
      const c = field(i + 1, j + 1);
      const d = field(i, j + 1);
      const code = (a > 0 ? 1 : 0) | (b > 0 ? 2 : 0) | (c > 0 ? 4 : 0) | (d > 0 ? 8 : 0);
      if (code === 0 || code === 15) continue;
      let pairs = EDGE_PAIRS[code];
      if (pairs === null) {
        const centreAbove = (a + b + c + d) / 4 > 0;
        // code 5: a and c above; code 10: b and d above.
        pairs = (code === 5) === centreAbove ? [[0, 1], [3, 2]] : [[3, 0], [1, 2]];
      }
      for (const [from, to] of pairs) {
        const p = edgePoint(from, i, j, a, b, c, d);
        const q = edgePoint(to, i, j, a, b, c, d);
        segments.push([p[0], p[1], q[0], q[1]]);
      }
    }
  }
  return segments;
}

function crossing(u, v) {
  const t = u / (u - v);
  return Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0.5;
}

function edgePoint(edge, i, j, a, b, c, d) {
  switch (edge) {
    case 0:
      return [i + crossing(a, b), j];
    case 1:
      return [i + 1, j + crossing(b, c)];
    case 2:
      return [i + crossing(d, c), j + 1];
    default:
      return [i, j + crossing(a, d)];
  }
}
