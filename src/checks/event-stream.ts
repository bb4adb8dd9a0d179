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
  let buffer = ''
  let id: string | undefined
  let event = ''
  let data: string[] = []
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, {stream: true})
      let newline: number
      while ((newline = buffer.search(/\r\n|\n|\r/)) >= 0) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1))
        if (line === '') {
          if (data.length > 0) yield {id, event: event || 'message', data: data.join('\n')}
          event = ''
          data = []
          continue
        }
        if (line.startsWith(':')) continue
        const colon = line.indexOf(':')
        const field = colon < 0 ? line : line.slice(0, colon)
        let value = colon < 0 ? '' : line.slice(colon + 1)
        if (value.startsWith(' ')) value = value.slice(1)
        if (field === 'data') data.push(value)
        else if (field === 'event') event = value
        else if (field === 'id' && !value.includes('\0')) id = value
      }
    }
  } catch (error) {
    if (options.signal?.aborted) return
    throw error
  }
}
