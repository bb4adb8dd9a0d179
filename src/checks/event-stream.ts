/** One server-sent event as a client sees it (the WHATWG parsing rules, minus `retry`). */
export interface StreamEvent {
  id: string | undefined
  event: string
  data: string
}

export interface EventStreamOptions {
  headers?: Record<string, string>
  signal?: AbortSignal
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
 * Opens `url` as an event stream and yields its events until the server ends it or `signal`
 * aborts (which ends the iteration quietly). A non-200 answer throws with the status and body.
 */
export async function* readEventStream(
  url: string,
  options: EventStreamOptions = {},
): AsyncGenerator<StreamEvent> {
  let response: Response
  try {
    response = await fetch(url, {
      headers: {accept: 'text/event-stream', ...options.headers},
      signal: options.signal,
    })
  } catch (error) {
    if (options.signal?.aborted) return
    throw error
  }
  if (response.status !== 200 || !response.body) {
    const body = await response.text().catch(() => '')
    throw new EventStreamError(
      `GET ${new URL(url).pathname} answered ${response.status}: ${body.slice(0, 300)}`,
      response.status,
    )
  }
  const decoder = new TextDecoder()
  const parser = new EventStreamParser()
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      yield* parser.push(decoder.decode(chunk, {stream: true}))
    }
  } catch (error) {
    if (options.signal?.aborted) return
    throw error
  }
}

/**
 * The WHATWG event-stream rules (minus `retry`) over chunks that may end anywhere, even inside a
 * line: what `push` returns are the events its chunk completed.
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
