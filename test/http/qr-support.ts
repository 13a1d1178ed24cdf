import { decodeQR } from 'qr/decode.js';

/**
 * Reads back a QR code drawn as SVG on a page, the way a camera would: the
 * SVG's filled shapes (path subpaths and rects, in viewBox units = modules)
 * are painted into a bitmap, which the library's decoder then scans. Knows
 * only straight-edged shapes (M/m/H/h/V/v/Z and rect), which is all a QR
 * code needs; anything else makes the test fail rather than guess.
 */
type Grid = { side: number; dark: boolean[][] };

function fill(grid: Grid, x0: number, y0: number, x1: number, y1: number): void {
  for (let y = Math.round(y0); y < Math.round(y1); y++) for (let x = Math.round(x0); x < Math.round(x1); x++) grid.dark[y]![x] = true;
}

/** The dark modules of a path: each closed subpath is a filled rectangle (its bounding box). */
function paintPath(grid: Grid, d: string): void {
  let x = 0;
  let y = 0;
  let points: Array<[number, number]> = [];
  const close = () => {
    if (points.length === 0) return;
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    fill(grid, Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys));
    [x, y] = points[0]!;
    points = [];
  };
  for (const [, cmd, args] of d.matchAll(/([A-Za-z])([^A-Za-z]*)/g)) {
    const n = args!.trim() === '' ? [] : args!.trim().split(/[\s,]+/).map(Number);
    switch (cmd ?? '') {
      case 'M':
        close();
        [x, y] = [n[0]!, n[1]!];
        break;
      case 'm':
        close();
        [x, y] = [x + n[0]!, y + n[1]!];
        break;
      case 'H':
        x = n[0]!;
        break;
      case 'h':
        x += n[0]!;
        break;
      case 'V':
        y = n[0]!;
        break;
      case 'v':
        y += n[0]!;
        break;
      case 'Z':
      case 'z':
        close();
        continue;
      default:
        throw new Error(`unsupported SVG path command ${cmd}`);
    }
    points.push([x, y]);
  }
  close();
}

/** The module grid of an inline QR SVG (viewBox in modules, white background). */
export function svgModules(svg: string): Grid {
  const side = Number(/viewBox="0 0 (\d+) \1"/.exec(svg)?.[1]);
  if (!Number.isInteger(side) || side <= 0) throw new Error('no square viewBox in the SVG');
  const grid: Grid = { side, dark: Array.from({ length: side }, () => Array<boolean>(side).fill(false)) };
  for (const [, attrs] of svg.matchAll(/<path([^>]*)>/g)) {
    if (/fill="(#fff|#ffffff|white|none)"/i.test(attrs!)) continue;
    paintPath(grid, /\sd="([^"]+)"/.exec(attrs!)?.[1] ?? '');
  }
  for (const [, attrs] of svg.matchAll(/<rect([^>]*)>/g)) {
    if (/fill="(#fff|#ffffff|white|none)"/i.test(attrs!)) continue; // the background
    const num = (name: string) => Number(new RegExp(`\\s${name}="([\\d.]+)"`).exec(attrs!)?.[1] ?? 0);
    fill(grid, num('x'), num('y'), num('x') + num('width'), num('y') + num('height'));
  }
  return grid;
}

/** Decodes the QR code of an inline SVG: modules → an RGBA bitmap at `scale` pixels a module → the library's decoder. */
export function decodeSvgQr(svg: string, scale = 4): string {
  const { side, dark } = svgModules(svg);
  const width = side * scale;
  const data = new Uint8Array(width * width * 4);
  for (let py = 0; py < width; py++) {
    for (let px = 0; px < width; px++) {
      const v = dark[Math.floor(py / scale)]![Math.floor(px / scale)] ? 0 : 255;
      data.set([v, v, v, 255], (py * width + px) * 4);
    }
  }
  return decodeQR({ width, height: width, data });
}
