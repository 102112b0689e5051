// Small inline SVG charts for the dashboard: no library, no canvas (they scale with the page and print).
'use strict'
;(function () {
  const NS = 'http://www.w3.org/2000/svg'
  const W = 300
  const H = 48

  function el(tag, attrs) {
    const e = document.createElementNS(NS, tag)
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
    return e
  }

  /** Points of one series scaled to the box; null values break the line. */
  function path(values, max) {
    const n = values.length
    let d = ''
    let pen = false
    values.forEach((v, i) => {
      if (v === null || v === undefined || !Number.isFinite(v)) {
        pen = false
        return
      }
      const x = n <= 1 ? W : (i / (n - 1)) * W
      const y = H - 2 - (max > 0 ? (v / max) * (H - 4) : 0)
      d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`
      pen = true
    })
    return d
  }

  /**
   * A sparkline: `series` is one array of numbers (filled area) or several (lines, the
   * second drawn as p99). Scaled to the largest value shown.
   */
  function spark(series, options) {
    const lists = Array.isArray(series[0]) || series.length === 0 || series[0] === null ? series : [series]
    const all = lists.flat().filter((v) => v !== null && Number.isFinite(v))
    const max = Math.max(0, ...all)
    const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': (options && options.label) || 'chart' })
    lists.forEach((values, i) => {
      const d = path(values, max)
      if (d === '') return
      if (lists.length === 1) {
        const first = d.slice(1).split('L')[0].split(',')[0]
        const last = d.split(/[ML]/).pop().split(',')[0]
        svg.appendChild(el('path', { class: 'area', d: `${d}L${last},${H}L${first},${H}Z` }))
      }
      svg.appendChild(el('path', { class: i === 1 ? 'line p99' : 'line', d, 'vector-effect': 'non-scaling-stroke' }))
    })
    return svg
  }

  window.HerdCharts = { spark }
})()
