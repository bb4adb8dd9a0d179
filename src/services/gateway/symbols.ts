/**
 * Which symbols the gateway trades. By default any well-formed symbol, its book created on the
 * first order (the seed's clients send AAPL, BTCUSD, …); `SYMBOLS` restricts that to a list.
 * Books are never dropped, so an open gateway admits at most `MAX_SYMBOLS` distinct symbols:
 * a client cannot grow its memory without bound by inventing names.
 */

export const maxSymbolLength = 32
/** The seed's rule for a symbol key (A–Z, 0–9, `.`, `_`, `-`), at our length. */
const wellFormed = new RegExp(`^[A-Z0-9._-]{1,${maxSymbolLength}}$`)
export const symbolRule = `1 to ${maxSymbolLength} characters of A-Z, 0-9, '.', '_' or '-'`

export function isWellFormedSymbol(symbol: string): boolean {
  return wellFormed.test(symbol)
}

/** `SYMBOLS` as a list; undefined when it is empty (any well-formed symbol). Throws on a malformed entry. */
export function parseSymbolList(value: string): ReadonlySet<string> | undefined {
  const symbols = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (symbols.length === 0) return undefined
  const bad = symbols.filter((s) => !isWellFormedSymbol(s))
  if (bad.length > 0) throw new Error(`SYMBOLS has ${bad.join(', ')}, which is not ${symbolRule}`)
  return new Set(symbols)
}

/** A symbol as it may appear in a message: quoted, and short even when the client's is not. */
function quoted(symbol: string): string {
  return JSON.stringify(symbol.length > 40 ? `${symbol.slice(0, 40)}…` : symbol)
}

export class SymbolPolicy {
  /** Symbols with an order (accepted or replayed): the books that exist or will. */
  private readonly traded = new Set<string>()

  constructor(
    /** `SYMBOLS`; undefined: any well-formed symbol. */
    private readonly allowed: ReadonlySet<string> | undefined,
    /** `MAX_SYMBOLS`: distinct symbols an open gateway admits. */
    private readonly maxSymbols: number,
  ) {}

  get size(): number {
    return this.traded.size
  }

  get restricted(): boolean {
    return this.allowed !== undefined
  }

  /** Why the gateway does not take the symbol at all (malformed, or not in `SYMBOLS`); undefined if it does. */
  refusal(symbol: string): string | undefined {
    if (!isWellFormedSymbol(symbol)) return `symbol ${quoted(symbol)} is not ${symbolRule}`
    if (this.allowed !== undefined && !this.allowed.has(symbol)) {
      return `unknown symbol ${quoted(symbol)}: this gateway trades ${[...this.allowed].join(', ')} (SYMBOLS)`
    }
    return undefined
  }

  /** Why an order for the symbol cannot be taken now: refusal(), or a new symbol past MAX_SYMBOLS. */
  orderRefusal(symbol: string): string | undefined {
    const refused = this.refusal(symbol)
    if (refused !== undefined || this.allowed !== undefined || this.traded.has(symbol)) return refused
    if (this.traded.size >= this.maxSymbols) {
      return (
        `symbol ${quoted(symbol)} would be one more than the ${this.maxSymbols} symbols this gateway ` +
        `already trades (MAX_SYMBOLS); raise MAX_SYMBOLS or set SYMBOLS to the symbols you trade`
      )
    }
    return undefined
  }

  /** The symbol has an order: its book counts from now on (replay admits past the cap: those were accepted). */
  admit(symbol: string): void {
    this.traded.add(symbol)
  }
}
