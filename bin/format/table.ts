import Table from 'cli-table3'

// Borderless columns, as `ollama ps` and `docker ps` print them.
const chars = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '',
  right: '', 'right-mid': '', middle: '  '
}

export function plainTable(head?: string[]): Table.Table {
  return new Table({ head, chars, style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 } })
}
