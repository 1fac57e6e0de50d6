/** The IoF application: the metadata workbook importer (more to come). */
export { IofWorkbookError, type ReadWorkbookOptions, readWorkbook } from './workbook.js';
