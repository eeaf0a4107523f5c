/**
 * @mfactl/render: the report renderers shared by the CLI and the HTTP server. Output only: reading
 * user input files stays in the CLI.
 *
 * - CSV: a streaming, RFC 4180, formula-safe writer (csv.ts, formula.ts).
 * - `report` as one self-contained HTML file (html-report.ts).
 * - `posture` as one self-contained HTML file (posture-html.ts).
 */
export { columnValue, createCsvWriter, csvCell, writeCsv, type CsvWriter, type CsvWriterOptions, type TextSink } from "./csv.js";
export { escapeFormula, unescapeFormula } from "./formula.js";
export {
  escapeHtml,
  renderHtmlReport,
  REPORT_CSP,
  REPORT_STATES,
  stateOf,
  writeHtmlReport,
  type HtmlReportInput,
  type ReportState,
  type ReportSummary,
  type StateCounts,
} from "./html-report.js";
export {
  jsonForScript,
  POSTURE_CSP,
  POSTURE_HTML_COLUMNS,
  POSTURE_STATES,
  postureHtmlRow,
  renderPostureHtml,
  type PostureHtmlInput,
  type PostureHtmlRow,
} from "./posture-html.js";
