/**
 * DBC files are cp1252 by default; some are UTF-8. A file that is valid UTF-8 is read as UTF-8, anything else as
 * cp1252 (which maps every byte). A UTF-8 byte-order mark is dropped. CRLF is handled by the lexer.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const cp1252 = new TextDecoder('windows-1252');

export function decodeDbcBytes(bytes: Uint8Array): { text: string; encoding: 'utf-8' | 'cp1252' } {
  try {
    return { text: utf8.decode(bytes), encoding: 'utf-8' };
  } catch {
    return { text: cp1252.decode(bytes), encoding: 'cp1252' };
  }
}
