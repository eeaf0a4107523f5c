/**
 * Formula-injection escaping for CSV cells (OWASP "CSV Injection"). A text cell starting with `=`,
 * `+`, `-`, `@`, tab or carriage return (or the full-width `＝＋－＠` some spreadsheets also take as
 * formulas) gets a single quote `'` in front. To keep this reversible, text that starts with quotes
 * followed by one of those characters gets one more quote too; {@link unescapeFormula} removes one.
 */
const FORMULA_TRIGGER = /^'*[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;
const ESCAPED_FORMULA = /^'+[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

/** Prefix `'` to text a spreadsheet could run as a formula (see the module comment). */
export function escapeFormula(text: string): string {
  return FORMULA_TRIGGER.test(text) ? `'${text}` : text;
}

/** Undo {@link escapeFormula}: for reading back our own CSV. */
export function unescapeFormula(text: string): string {
  return ESCAPED_FORMULA.test(text) ? text.slice(1) : text;
}
