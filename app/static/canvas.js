// A <canvas> drawn at the screen's full resolution (devicePixelRatio) in CSS-pixel coordinates,
// redrawn when its size changes and at most once per animation frame. BoundaryMap and LineChart
// extend it and implement draw().

export class HiDpiCanvas {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.frame = 0;
  }

  /** Start following the element's size; call at the end of the subclass's constructor. */
  watchSize() {
    new ResizeObserver(() => this.resize()).observe(this.canvas);
    this.resize();
  }

  resize() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(this.canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(this.canvas.clientHeight * ratio));
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.renderNow();
  }

  /** Redraw on the next animation frame (many calls in one frame draw once). */
  render() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.renderNow();
    });
  }

  /** Redraw now: scale the context to CSS pixels, clear it, and draw(). */
  renderNow() {
    const { ctx, canvas } = this;
    const ratio = canvas.width / Math.max(1, canvas.clientWidth);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
    this.draw();
  }

  /** Draw the picture (CSS-pixel coordinates, cleared canvas). */
  draw() {}

  /**
   * Text centred on x, moved sideways just enough to stay inside the canvas (so the first and
   * last tick labels are never cut).
   */
  fillTextInside(text, x, y) {
    const { ctx } = this;
    const half = ctx.measureText(text).width / 2;
    const left = Math.min(Math.max(x, half + 1), this.canvas.clientWidth - half - 1);
    ctx.textAlign = "center";
    ctx.fillText(text, left, y);
  }

  /** The plot area inside `margin` ({left, right, top, bottom}) in CSS pixels. */
  plotArea(margin) {
    return {
      left: margin.left,
      top: margin.top,
      width: Math.max(1, this.canvas.clientWidth - margin.left - margin.right),
      height: Math.max(1, this.canvas.clientHeight - margin.top - margin.bottom),
    };
  }
}
