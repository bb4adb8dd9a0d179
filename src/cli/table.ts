/** Columns padded to their widest cell; colour codes do not count towards the width. */
export function renderTable(headers: string[], rows: string[][]): string[] {
  // eslint-disable-next-line no-control-regex
  const visible = (text: string) => text.replace(/\u001B\[[0-9;]*m/g, '').length
  const widths = headers.map((header, i) =>
    Math.max(visible(header), ...rows.map((row) => visible(row[i] ?? ''))),
  )
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visible(cell))))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map(line)]
}
