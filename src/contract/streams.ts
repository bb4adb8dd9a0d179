/** SSE event names every stream poc serves shares (services/shared/sse.ts writes them). */

/** An event without an `event:` line: what EventSource's `onmessage` gets (pm's summary). */
export const MESSAGE_EVENT = 'message'

/** Sent instead of a replay a stream cannot give (the Last-Event-ID is too old or unknown). */
export const RESYNC_EVENT = 'resync_required'
