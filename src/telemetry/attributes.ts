/**
 * herd's span attribute names (OpenTelemetry's own, from semantic-conventions, where one
 * fits). What may go on a span: model ids, endpoints, node names and peer ids, statuses,
 * counts and token numbers. Never a key, a header's value, or any text of a prompt or answer.
 */
export const ATTR = {
  // OpenTelemetry's (semantic-conventions), spelled out so that tracing off loads none of its packages.
  httpMethod: 'http.request.method',
  urlPath: 'url.path',
  httpStatus: 'http.response.status_code',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  errorType: 'error.type',
  // herd's own.
  node: 'herd.node',
  requestId: 'herd.request_id',
  endpoint: 'herd.endpoint',
  model: 'herd.model',
  stream: 'herd.stream',
  hops: 'herd.hops',
  servedBy: 'herd.served_by',
  /** `name:tier` per candidate, best first (tier 0 free slot … 3 needs eviction). */
  candidates: 'herd.route.candidates',
  candidateCount: 'herd.route.candidate_count',
  /** The node tried last: the one that answered when the span is not failed. */
  chosen: 'herd.route.chosen',
  attempts: 'herd.route.attempts',
  peerId: 'herd.peer.id',
  peerName: 'herd.peer.name',
  /** The request waited in line (no free slot when it came). */
  queued: 'herd.queue.waited',
  queueAhead: 'herd.queue.ahead',
  instance: 'herd.instance.id',
  completionTokens: 'herd.tokens.completion',
  promptTokens: 'herd.tokens.prompt',
} as const
