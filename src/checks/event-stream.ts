import {EventSource} from 'eventsource'

/** One server-sent event as a client sees it (the WHATWG parsing rules, minus `retry`). */
export interface StreamEvent {
  id: string | undefined
  event: string
  data: string
}

export interface EventStreamOptions {
  headers?: Record<string, string>
  signal?: AbortSignal
  /**
   * The event types to read: an EventSource hands out only the types it is told to listen for.
   * `message` (the default) is an event without an `event:` field, what `onmessage` gets.
   */
  events?: readonly string[]
  /** Called when the server has answered 200 with an event stream. */
  onOpen?: () => void
}

export class EventStreamError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'EventStreamError'
  }
}

/**
 * Opens `url` with the `eventsource` package's EventSource, the WHATWG client that a browser (the
 * seed's UI) has, and yields the events of the listed types until the server ends the stream or
 * `signal` aborts (which ends the iteration quietly). It does not reconnect: an answer other than
 * a 200 event stream throws with the status and body, a network failure throws with its cause,
 * so a caller decides how to retry (and with which Last-Event-ID).
 */
export async function* readEventStream(
  url: string,
  options: EventStreamOptions = {},
): AsyncGenerator<StreamEvent> {
  const {headers = {}, signal, events = ['message'], onOpen} = options
  if (signal?.aborted) return
  const route = `GET ${new URL(url).pathname}`
  const queue: StreamEvent[] = []
  // Set once the stream is over: undefined error for an end the server chose.
  let over: {error?: Error} | undefined
  let wake: (() => void) | undefined
  const finish = (error?: Error) => {
    over ??= {error}
    source.close()
    wake?.()
  }
  // What EventSource's error event cannot carry: the refusal's body, the network error's cause.
  let refusal: string | undefined
  let networkError: Error | undefined

  const source = new EventSource(url, {
    fetch: async (input, init) => {
      const merged = new Headers(init.headers)
      for (const [name, value] of Object.entries(headers)) merged.set(name, value)
      let response: Response
      try {
        response = await fetch(input, {...init, headers: merged})
      } catch (error) {
        networkError = error as Error
        throw error
      }
      const type = response.headers.get('content-type') ?? ''
      if (response.status !== 200) {
        const body = await response.text().catch(() => '')
        refusal = `${route} answered ${response.status}: ${body.slice(0, 300)}`
      } else if (!type.startsWith('text/event-stream')) {
        // EventSource fails such an answer without reading it: free the connection here.
        await response.body?.cancel().catch(() => undefined)
        refusal = `${route} answered 200 with ${type || 'no content-type'}, not an event stream`
      }
      return response
    },
  })
  const onEvent = (event: MessageEvent) => {
    queue.push({id: event.lastEventId || undefined, event: event.type, data: String(event.data)})
    wake?.()
  }
  for (const type of events) source.addEventListener(type, onEvent)
  source.addEventListener('open', () => onOpen?.())
  source.addEventListener('error', (event) => {
    // CLOSED: EventSource failed the connection (a refusal) and will not retry. CONNECTING: the
    // stream ended or broke and it would retry, which is left to the caller.
    if (source.readyState === EventSource.CLOSED) {
      finish(new EventStreamError(refusal ?? `${route}: ${event.message ?? 'refused'}`, event.code))
    } else if (networkError) {
      finish(networkError)
    } else if (event.message !== undefined) {
      finish(new EventStreamError(`${route}: the stream broke (${event.message})`))
    } else {
      finish()
    }
  })
  const onAbort = () => finish()
  signal?.addEventListener('abort', onAbort, {once: true})
  try {
    for (;;) {
      if (signal?.aborted) return
      const next = queue.shift()
      if (next) {
        yield next
        continue
      }
      if (over) {
        if (over.error) throw over.error
        return
      }
      await new Promise<void>((resolve) => (wake = resolve))
      wake = undefined
    }
  } finally {
    signal?.removeEventListener('abort', onAbort)
    source.close()
  }
}

/**
 * The WHATWG event-stream rules (minus `retry`) over chunks that may end anywhere, even inside a
 * line: what `push` returns are the events its chunk completed. Only `poc stress sse` uses it
 * (see there why it does not use EventSource).
 */
export class EventStreamParser {
  private buffer = ''
  private id: string | undefined
  private event = ''
  private data: string[] = []

  push(chunk: string): StreamEvent[] {
    this.buffer += chunk
    const events: StreamEvent[] = []
    let newline: number
    while ((newline = this.buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = this.buffer.slice(0, newline)
      this.buffer = this.buffer.slice(newline + (this.buffer.startsWith('\r\n', newline) ? 2 : 1))
      if (line === '') {
        if (this.data.length > 0)
          events.push({id: this.id, event: this.event || 'message', data: this.data.join('\n')})
        this.event = ''
        this.data = []
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      let value = colon < 0 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'data') this.data.push(value)
      else if (field === 'event') this.event = value
      else if (field === 'id' && !value.includes('\0')) this.id = value
    }
    return events
  }
}
