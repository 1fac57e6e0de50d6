/** The raw footer of a Parquet file, for what hyparquet's metadata does not expose. */
import { deserializeTCompactProtocol } from 'hyparquet/src/thrift.js';

/**
 * FileMetaData.column_orders (field 7) as thrift gives it: TYPE_ORDER (`{ field_1: {} }`) per leaf is what makes
 * readers such as Arrow trust min_value/max_value.
 */
export function columnOrders(b: Uint8Array): unknown {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = view.getUint32(b.byteLength - 8, true);
  return (deserializeTCompactProtocol({ view, offset: b.byteLength - 8 - len }) as Record<string, unknown>).field_7;
}
