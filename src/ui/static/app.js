// The herd dashboard: polls this node's key-protected read routes every second and draws
// the mesh. Everything shown comes from peers' gossip, so it is drawn with textContent
// (never innerHTML): a node name is data, not markup.
'use strict'
;(function () {
  const POLL_MS = 1000
  const USAGE_POLL_MS = 10_000
  /** Per-model samples kept in the page (one per poll): the last 5 minutes. */
  const MODEL_SAMPLES = 300
  const KEY_STORE = 'herd.key'
  const FORGET_GONE_MS = 10 * 60_000

  const $ = (id) => document.getElementById(id)
  let key = sessionStorage.getItem(KEY_STORE)
  let admin = false
  let timer
  let usageTimer
  /** Every node seen since the page opened: id -> { view, lastSeen }. A node that leaves the list stays, marked gone. */
  const seen = new Map()
  /** Mesh-wide per-model samples, gathered by the page: id -> [{ rps, tps, p50, p99 }]. */
  const modelHistory = new Map()

  /** A DOM element: h('td', { class: 'num' }, 'text', child, …). */
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag)
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue
      if (k === 'class') e.className = v
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v)
      else e.setAttribute(k, v === true ? '' : String(v))
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue
      e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c)
    }
    return e
  }

  class Unauthorized extends Error {}

  async function api(path, options) {
    const headers = Object.assign({}, (options && options.headers) || {})
    if (key) headers['authorization'] = `Bearer ${key}`
    const res = await fetch(path, Object.assign({}, options, { headers, cache: 'no-store' }))
    if (res.status === 401) throw new Unauthorized('unauthorized')
    const body = await res.json().catch(() => ({}))
    if (!res.ok) throw new Error((body.error && body.error.message) || `${res.status}`)
    return body
  }

  // ---- formatting ----
  const fmtMb = (mb) => (mb === null || mb === undefined ? '–' : mb >= 1024 ? `${(mb / 1024).toFixed(1)} GiB` : `${Math.round(mb)} MiB`)
  const fmtRate = (r) => (r === null || r === undefined ? '–' : r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2))
  const fmtMs = (ms) => (ms === null || ms === undefined ? '–' : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`)
  function fmtAge(ms) {
    const s = Math.max(0, Math.round(ms / 1000))
    if (s < 60) return `${s}s`
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`
  }

  // ---- login gate ----
  function showLogin(message) {
    clearInterval(timer)
    clearInterval(usageTimer)
    $('dashboard').hidden = true
    $('dashboard').replaceChildren()
    $('logout').hidden = true
    $('summary').textContent = ''
    $('login').hidden = false
    const err = $('login-error')
    err.hidden = !message
    err.textContent = message || ''
    $('login-key').focus()
  }

  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const value = $('login-key').value.trim()
    if (value === '') return
    key = value
    sessionStorage.setItem(KEY_STORE, value)
    $('login-key').value = ''
    start()
  })

  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORE)
    key = null
    location.reload()
  })

  $('logs-close').addEventListener('click', () => $('logs').close())

  /** The dashboard's sections are kept as a template, so a failed login can remove them whole. */
  const template = $('dashboard').cloneNode(true)

  async function start() {
    let first
    try {
      first = await api('/cluster/nodes')
    } catch (err) {
      if (err instanceof Unauthorized) {
        const refused = key !== null
        sessionStorage.removeItem(KEY_STORE)
        key = null
        return showLogin(refused ? 'That key was refused.' : '')
      }
      $('summary').textContent = `cannot reach the node: ${err.message}`
      setTimeout(start, 2000)
      return
    }
    $('login').hidden = true
    if ($('dashboard').childElementCount === 0) $('dashboard').replaceWith(template.cloneNode(true))
    $('dashboard').hidden = false
    $('logout').hidden = key === null
    admin = await api('/admin/instances').then(
      () => true,
      () => false,
    )
    draw(first.nodes)
    clearInterval(timer)
    timer = setInterval(poll, POLL_MS)
    if (admin) {
      usage()
      clearInterval(usageTimer)
      usageTimer = setInterval(usage, USAGE_POLL_MS)
    }
  }

  async function poll() {
    try {
      const { nodes } = await api('/cluster/nodes')
      $('live').className = 'live on'
      draw(nodes)
    } catch (err) {
      if (err instanceof Unauthorized) return showLogin('The key is no longer accepted.')
      $('live').className = 'live off'
      $('summary').textContent = `cannot reach the node: ${err.message}`
    }
  }

  // ---- drawing ----
  function draw(nodes) {
    const now = Date.now()
    for (const n of nodes) seen.set(n.id, { view: n, lastSeen: now })
    // A node gone for longer than the traffic history is forgotten (the page may stay open for days).
    for (const [id, s] of seen) if (now - s.lastSeen > FORGET_GONE_MS) seen.delete(id)
    const present = new Set(nodes.map((n) => n.id))
    const all = [...seen.values()].map((s) => ({ ...s, gone: !present.has(s.view.id) }))
    all.sort((a, b) => (b.view.self ? 1 : 0) - (a.view.self ? 1 : 0) || a.view.name.localeCompare(b.view.name))
    const fresh = all.filter((s) => !s.gone && s.view.fresh).length
    const self = nodes.find((n) => n.self)
    $('summary').textContent = `${self ? self.name : ''} · ${fresh} of ${all.length} nodes fresh · updated ${new Date(now).toLocaleTimeString()}`
    sample(nodes)
    $('nodes').replaceChildren(...all.map((s) => nodeCard(s, now)))
    drawTraffic(all)
    drawModels(nodes)
    drawBackends(nodes)
    drawErrors(nodes)
  }

  function nodeCard(s, now) {
    const n = s.view
    const stale = s.gone || !n.fresh
    const heard = s.gone ? now - s.lastSeen + n.age_ms : n.age_ms
    const state = s.gone ? 'gone' : stale ? 'stale' : n.status
    const res = n.resources || { gpus: [], sysmem: { totalMb: 0, freeMb: 0 } }
    return h(
      'div',
      { class: `card node${stale ? ' stale' : ''}`, 'data-node': n.name, 'data-state': state },
      h(
        'div',
        { class: 'node-head' },
        h('h3', {}, n.name),
        n.self && h('span', { class: 'badge' }, 'this node'),
        h('span', { class: `badge node-status ${stale ? 'bad' : n.status === 'ready' ? 'ok' : ''}` }, state),
      ),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'herd'),
        h('dd', {}, n.herd_version),
        h('dt', {}, 'llama.cpp'),
        h('dd', {}, n.llama_cpp || '–'),
        h('dt', {}, 'uptime'),
        h('dd', {}, fmtAge(now - Date.parse(n.started_at))),
        h('dt', {}, 'last heartbeat'),
        h('dd', { class: 'heartbeat' }, n.self ? 'this node' : `${fmtAge(heard)} ago`),
        !n.self && h('dt', {}, 'circuit'),
        !n.self && h('dd', {}, n.circuit || '–'),
        !n.self && h('dt', {}, 'link'),
        !n.self && h('dd', {}, s.gone ? 'gone from the mesh' : n.connected ? 'connected' : 'not connected'),
        h('dt', {}, 'id'),
        h('dd', { class: 'muted' }, n.id),
      ),
      res.gpus.length > 0 &&
        h(
          'div',
          { class: 'legend' },
          h('span', {}, h('i', { class: 'herd' }), 'herd'),
          h('span', {}, h('i', { class: 'other' }), 'other'),
          h('span', {}, h('i', { class: 'free' }), 'free'),
        ),
      res.gpus.map((g) => memBar(`GPU ${g.index} · ${g.name}`, g.totalMb, g.freeMb, g.herdMb)),
      memBar('System memory', res.sysmem.totalMb, res.sysmem.freeMb, res.sysmem.herdMb),
    )
  }

  function memBar(label, totalMb, freeMb, herdMb) {
    const used = Math.max(0, totalMb - freeMb)
    const herd = Math.min(used, herdMb || 0)
    const other = Math.max(0, used - herd)
    const pct = (v) => (totalMb > 0 ? `${((v / totalMb) * 100).toFixed(2)}%` : '0%')
    const herdPart = h('span', { class: 'herd', title: `herd ${fmtMb(herd)}` })
    const otherPart = h('span', { class: 'other', title: `other ${fmtMb(other)}` })
    herdPart.style.width = pct(herd)
    otherPart.style.width = pct(other)
    return h(
      'div',
      { class: 'mem' },
      h(
        'div',
        { class: 'mem-label' },
        h('span', {}, label),
        h('span', { class: 'muted' }, `herd ${fmtMb(herd)} · other ${fmtMb(other)} · free ${fmtMb(freeMb)} of ${fmtMb(totalMb)}`),
      ),
      h('div', { class: 'bar' }, herdPart, otherPart),
    )
  }

  /** One page-side sample per poll of each model's mesh-wide traffic (gossip carries per-model rates, not their history). */
  function sample(nodes) {
    const sums = new Map()
    for (const n of nodes) {
      if (!n.fresh || !n.traffic) continue
      for (const m of n.traffic.models) {
        const s = sums.get(m.id) || { rps: 0, tps: 0, p50: null, p99: null }
        s.rps += m.requestsPerSecond
        s.tps += m.tokensPerSecond
        if (m.ttfbP50Ms !== null) s.p50 = Math.max(s.p50 || 0, m.ttfbP50Ms)
        if (m.ttfbP99Ms !== null) s.p99 = Math.max(s.p99 || 0, m.ttfbP99Ms)
        sums.set(m.id, s)
      }
    }
    for (const id of new Set([...sums.keys(), ...modelHistory.keys()])) {
      const list = modelHistory.get(id) || []
      list.push(sums.get(id) || { rps: 0, tps: 0, p50: null, p99: null })
      if (list.length > MODEL_SAMPLES) list.shift()
      if (!sums.has(id) && list.every((p) => p.rps === 0 && p.tps === 0)) modelHistory.delete(id)
      else modelHistory.set(id, list)
    }
  }

  function chart(title, value, series, label) {
    return h('div', { class: 'chart' }, h('div', { class: 'chart-title' }, h('span', {}, title), h('b', {}, value)), window.HerdCharts.spark(series, { label }))
  }

  function drawTraffic(all) {
    const rows = []
    for (const s of all) {
      const t = s.view.traffic
      if (!t || s.gone) continue
      const step = t.history.stepSeconds
      rows.push(
        h(
          'div',
          { class: 'traffic-node', 'data-node': s.view.name },
          h('h3', { class: 'small' }, s.view.name, ' ', h('span', { class: 'muted' }, `(${step}s steps)`)),
          h(
            'div',
            { class: 'charts' },
            chart(
              'requests/s',
              h('span', { class: 'rps' }, fmtRate(t.requestsPerSecond)),
              t.history.requests.map((v) => v / step),
              'requests per second',
            ),
            chart(
              'tokens/s',
              h('span', { class: 'tps' }, fmtRate(t.tokensPerSecond)),
              t.history.tokens.map((v) => v / step),
              'generated tokens per second',
            ),
            chart('TTFB p50 / p99', `${fmtMs(t.ttfbP50Ms)} / ${fmtMs(t.ttfbP99Ms)}`, [t.history.ttfbP50Ms, t.history.ttfbP99Ms], 'time to first byte'),
          ),
        ),
      )
    }
    const models = [...modelHistory].filter(([, list]) => list.some((p) => p.rps > 0 || p.tps > 0))
    if (models.length > 0) {
      rows.push(h('h3', { class: 'small' }, 'per model, whole mesh ', h('span', { class: 'muted' }, '(since this page opened)')))
      rows.push(
        h(
          'div',
          { class: 'charts' },
          models.map(([id, list]) => {
            const last = list[list.length - 1]
            return h(
              'div',
              { class: 'chart traffic-model', 'data-model': id },
              h('div', { class: 'chart-title' }, h('span', {}, id), h('b', {}, `${fmtRate(last.rps)} req/s · ${fmtRate(last.tps)} tok/s`)),
              window.HerdCharts.spark(
                list.map((p) => p.rps),
                { label: `${id} requests per second` },
              ),
              h('div', { class: 'chart-title muted' }, h('span', {}, 'TTFB p50 / p99'), h('span', {}, `${fmtMs(last.p50)} / ${fmtMs(last.p99)}`)),
              window.HerdCharts.spark([list.map((p) => p.p50), list.map((p) => p.p99)], { label: `${id} time to first byte` }),
            )
          }),
        ),
      )
    }
    $('traffic').replaceChildren(...(rows.length > 0 ? rows : [h('p', { class: 'muted' }, 'No traffic figures yet.')]))
  }

  function drawModels(nodes) {
    const rows = []
    for (const n of [...nodes].sort((x, y) => x.name.localeCompare(y.name))) {
      for (const m of n.models) {
        const running = m.running || []
        const sum = (pick) => (running.some((i) => pick(i) !== null) ? running.reduce((a, i) => a + (pick(i) || 0), 0) : null)
        const measured = sum((i) => i.vramMb)
        const measuredSys = sum((i) => i.sysmemMb)
        const anyMeasured = measured !== null || measuredSys !== null
        const loaded = m.instances > 0
        rows.push(
          h(
            'tr',
            { class: `model-row${loaded ? ' loaded' : ''}`, 'data-model': m.id, 'data-node': n.name },
            h('td', {}, h('b', {}, m.id), m.fileMissing ? h('div', { class: 'error small' }, 'model file missing') : null),
            h('td', {}, n.name, !n.fresh && h('span', { class: 'badge bad' }, 'stale')),
            h(
              'td',
              { class: 'instances' },
              running.length === 0
                ? h('span', { class: 'muted' }, loaded ? `${m.instances} (${m.readyInstances} ready)` : 'not loaded')
                : running.map((i) =>
                    h(
                      'span',
                      { class: 'instance' },
                      admin ? h('button', { type: 'button', class: 'link', onclick: () => showLogs(n, i.id) }, i.id) : i.id,
                      ` ${i.state} · ${i.busy}/${i.slots} slots`,
                      i.vramMb !== null ? ` · ${fmtMb(i.vramMb)} VRAM` : '',
                      i.sysmemMb !== null ? ` · ${fmtMb(i.sysmemMb)} RAM` : '',
                    ),
                  ),
            ),
            h('td', { class: 'num slots' }, `${m.slotsBusy}/${m.slotsTotal}`),
            h('td', { class: 'num' }, `${m.queueLength}`),
            h('td', { class: 'num' }, m.tokensPerSecond === null ? '–' : fmtRate(m.tokensPerSecond)),
            h(
              'td',
              { class: 'num' },
              `${fmtMb(m.estimatedVramMb)} / ${fmtMb(m.estimatedSysmemMb)}`,
              anyMeasured ? h('div', { class: 'muted' }, `measured ${fmtMb(measured)} / ${fmtMb(measuredSys)}`) : null,
            ),
            admin &&
              h(
                'td',
                {},
                h('button', { type: 'button', onclick: () => action('prewarm', n, m.id) }, 'Prewarm'),
                ' ',
                h('button', { type: 'button', disabled: !loaded, onclick: () => action('unload', n, m.id) }, 'Unload'),
              ),
          ),
        )
      }
    }
    const head = h(
      'tr',
      {},
      h('th', {}, 'model'),
      h('th', {}, 'node'),
      h('th', {}, 'instances'),
      h('th', { class: 'num' }, 'slots'),
      h('th', { class: 'num' }, 'queue'),
      h('th', { class: 'num' }, 'tok/s'),
      h('th', { class: 'num' }, 'estimate VRAM / RAM'),
      admin && h('th', {}, 'actions'),
    )
    $('models').replaceChildren(
      rows.length === 0 ? h('p', { class: 'muted' }, 'No models in the mesh.') : h('table', {}, h('thead', {}, head), h('tbody', {}, rows)),
    )
  }

  function drawBackends(nodes) {
    const rows = []
    for (const n of nodes)
      for (const b of n.backends || [])
        rows.push(
          h(
            'tr',
            { 'data-backend': b.name },
            h('td', {}, h('b', {}, b.name), ' ', h('span', { class: 'muted' }, b.protocol), b.egress ? h('span', { class: 'badge' }, 'egress') : null),
            h('td', {}, n.name),
            h('td', {}, h('span', { class: `badge ${b.health === 'up' ? 'ok' : b.health === 'down' ? 'bad' : ''}` }, b.health)),
            h('td', {}, b.circuit),
            h('td', { class: 'num' }, `${b.inUse}/${b.maxConcurrency}`),
            h('td', { class: 'num' }, `${b.queueLength}`),
            h('td', {}, b.models.map((m) => m.id).join(', ')),
          ),
        )
    $('backends-section').hidden = rows.length === 0
    if (rows.length === 0) return $('backends').replaceChildren()
    const head = h(
      'tr',
      {},
      ['backend', 'node', 'health', 'circuit', 'in use / max', 'queue', 'models'].map((t, i) => h('th', { class: i === 4 || i === 5 ? 'num' : '' }, t)),
    )
    $('backends').replaceChildren(h('table', {}, h('thead', {}, head), h('tbody', {}, rows)))
  }

  function drawErrors(nodes) {
    const rows = []
    for (const n of nodes) {
      const errors = (n.traffic && n.traffic.errors) || {}
      for (const [code, count] of Object.entries(errors).sort((a, b) => b[1] - a[1]))
        rows.push(h('tr', { 'data-code': code }, h('td', {}, h('code', {}, code)), h('td', {}, n.name), h('td', { class: 'num' }, `${count}`)))
    }
    $('errors').replaceChildren(
      rows.length === 0
        ? h('p', { class: 'muted' }, 'No errors in the last minute.')
        : h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'code'), h('th', {}, 'node'), h('th', { class: 'num' }, 'count'))), h('tbody', {}, rows)),
    )
  }

  // ---- admin ----
  async function usage() {
    try {
      const u = await api('/admin/usage?group_by=key')
      const rows = u.rows.map((r) =>
        h(
          'tr',
          {},
          h('td', {}, r.key || '–'),
          h('td', { class: 'num' }, `${r.requests}`),
          h('td', { class: 'num' }, `${r.prompt_tokens}`),
          h('td', { class: 'num' }, `${r.completion_tokens}`),
          h('td', { class: 'num' }, `${r.cache_hits}`),
          h('td', { class: 'num' }, `${r.cost.toFixed(4)} ${u.currency}`),
        ),
      )
      $('usage-section').hidden = false
      const head = h(
        'tr',
        {},
        ['key', 'requests', 'prompt tokens', 'completion tokens', 'cache hits', 'spend'].map((t, i) => h('th', { class: i > 0 ? 'num' : '' }, t)),
      )
      $('usage').replaceChildren(
        rows.length === 0 ? h('p', { class: 'muted' }, 'No usage under tenant keys yet.') : h('table', {}, h('thead', {}, head), h('tbody', {}, rows)),
      )
    } catch (err) {
      if (err instanceof Unauthorized) return
      $('usage-section').hidden = false
      $('usage').replaceChildren(h('p', { class: 'muted' }, `usage unavailable: ${err.message}`))
    }
  }

  /** `node` travels with the request: the node this page talks to runs it there, over the mesh. */
  const target = (n) => (n.self ? {} : { node: n.id })

  async function action(kind, n, model) {
    const status = $('action-status')
    status.textContent = `${kind} ${model} on ${n.name}…`
    try {
      const r = await api(`/admin/${kind}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, ...target(n) }) })
      status.textContent = kind === 'prewarm' ? `${model} is ready on ${n.name}` : `stopped ${r.stopped} instance(s) of ${model} on ${n.name}`
    } catch (err) {
      status.textContent = `${kind} ${model} on ${n.name} failed: ${err.message}`
    }
  }

  async function showLogs(n, instance) {
    $('logs-title').textContent = `${instance} on ${n.name}`
    $('logs-body').textContent = 'loading…'
    $('logs').showModal()
    try {
      const q = new URLSearchParams({ instance, ...target(n) })
      const { logs } = await api(`/admin/logs?${q}`)
      const lines = logs.flatMap((l) => l.lines)
      $('logs-body').textContent = lines.length === 0 ? '(no log lines)' : lines.join('\n')
    } catch (err) {
      $('logs-body').textContent = `could not read the logs: ${err.message}`
    }
  }

  start()
})()
