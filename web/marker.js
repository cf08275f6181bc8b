// The timing band the page puts above each camera frame it sends (see app.js: frame codes).
// BAND is one row of 16x16 coding blocks, so 4:2:0 video coding keeps the band apart from the
// picture; the code cells (CELL wide: a white start guard, MARK_BITS bits, a black stop guard)
// fill its top half, its bottom half repeats the picture's top row (an apron: the coders' edge
// filters and the display's scaling then blend the picture only with itself).
"use strict";

window.LivefxMarker = (() => {
  const MARK_BITS = 10, CELL = 16, BAND = 16, CODE_H = BAND / 2;

  /** Code cells and apron onto a 2D context whose picture is already drawn from row BAND. */
  function drawBand(ctx, width, code) {
    ctx.drawImage(ctx.canvas, 0, BAND, width, 1, 0, CODE_H, width, BAND - CODE_H); // apron
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, width, CODE_H);                      // flat: cheap to encode
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, CELL, CODE_H);                       // start guard
    for (let i = 0; i < MARK_BITS; i++) {
      ctx.fillStyle = (code >> (MARK_BITS - 1 - i)) & 1 ? "#fff" : "#000";
      ctx.fillRect((i + 1) * CELL, 0, CELL, CODE_H);
    }
  }

  // The band built on the frame's own planes (I420 or NV12: what cameras give Chromium): no
  // drawing and no colour conversion. null for another format, size or an odd size.
  async function onPlanes(frame, code, width, height) {
    const nv12 = frame.format === "NV12";
    const same = frame.visibleRect.width === width && frame.visibleRect.height === height;
    if ((frame.format !== "I420" && !nv12) || !same || width % 2 || height % 2) return null;
    const src = new Uint8Array(frame.allocationSize());
    const layout = await frame.copyTo(src);
    const rows = height + BAND, chromaRows = rows / 2;
    const out = new Uint8Array(width * rows + width * chromaRows); // both chroma planes: width/2 each
    out.fill(16, 0, width * CODE_H); // video-range black
    const cells = (1 << (MARK_BITS + 1)) | (code << 1); // start guard, the bits, the stop guard (0)
    for (let cell = 0; cell <= MARK_BITS; cell++) {
      if (!((cells >> (MARK_BITS + 1 - cell)) & 1)) continue;
      for (let row = 0; row < CODE_H; row++) out.fill(235, row * width + cell * CELL, row * width + (cell + 1) * CELL);
    }
    const planeRow = (plane, bytes, r) => src.subarray(plane.offset + r * plane.stride, plane.offset + r * plane.stride + bytes);
    for (let row = CODE_H; row < BAND; row++) out.set(planeRow(layout[0], width, 0), row * width);
    for (let row = 0; row < height; row++) out.set(planeRow(layout[0], width, row), (row + BAND) * width);
    const planes = nv12 ? [[layout[1], width]] : [[layout[1], width / 2], [layout[2], width / 2]];
    let at = width * rows;
    for (const [plane, bytes] of planes) {
      out.fill(128, at, at + (CODE_H / 2) * bytes); // neutral colour under the code
      for (let row = CODE_H / 2; row < BAND / 2; row++) out.set(planeRow(plane, bytes, 0), at + row * bytes);
      for (let row = 0; row < height / 2; row++) out.set(planeRow(plane, bytes, row), at + (row + BAND / 2) * bytes);
      at += chromaRows * bytes;
    }
    return new VideoFrame(out, { format: frame.format, codedWidth: width, codedHeight: rows, timestamp: frame.timestamp });
  }

  // Any other frame: drawn at width x height with its band on a canvas.
  function onCanvas(frame, code, width, height) {
    const canvas = new OffscreenCanvas(width, height + BAND);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(frame, 0, BAND, width, height);
    drawBand(ctx, width, code);
    return new VideoFrame(canvas, { timestamp: frame.timestamp });
  }

  /** A new frame: ``frame``'s picture at width x height with the band carrying ``code`` above
   * it (height + BAND rows in all); ``frame`` stays open. */
  async function marked(frame, code, width, height) {
    return (await onPlanes(frame, code, width, height)) || onCanvas(frame, code, width, height);
  }

  return { MARK_BITS, CELL, BAND, CODE_H, drawBand, marked };
})();
