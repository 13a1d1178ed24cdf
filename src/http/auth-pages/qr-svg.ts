import encodeQR from 'qr';
import { esc } from './html.js';

/**
 * A QR code as inline SVG markup, for the TOTP enrolment page. Inline (not an
 * <img> with a data: URL) so the pages' CSP stays `default-src 'none'` with no
 * img-src; the markup carries presentation attributes only (fill, sizes), no
 * style and no script. The encoder's own opening tag is replaced by ours: it
 * adds the accessible name, a fixed display size and a white background, which
 * scanners need when a browser draws the page dark.
 */
const OPENING = /^<svg viewBox="0 0 (\d+) \1" xmlns="http:\/\/www\.w3\.org\/2000\/svg">/;

/** Display size in CSS pixels: about 4 px a module for an otpauth URI, enough for phone cameras. */
const SIZE = 220;

export function qrSvg(text: string, label: string): string {
  // Medium error correction: survives a smudged screen without growing the symbol much; a 4-module quiet zone as the standard asks.
  const svg = encodeQR(text, 'svg', { ecc: 'medium', border: 4 });
  const open = OPENING.exec(svg);
  // A different shape from a new encoder version is a fault to fix here, not markup to pass on unchecked.
  if (!open) throw new Error('unexpected SVG opening tag from the QR encoder');
  const side = open[1]!;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${side} ${side}" width="${SIZE}" height="${SIZE}" role="img" aria-label="${esc(label)}" shape-rendering="crispEdges">`
    + `<rect width="${side}" height="${side}" fill="#fff"/>${svg.slice(open[0].length).replace('<path ', '<path fill="#000" ')}`;
}
