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

  const known = (v) => v !== null && v !== undefined && Number.isFinite(v)

  /** Points of one series scaled to the box; null values break the line, and a point alone is drawn as a short dash. */
  function path(values, max) {
    const n = values.length
    const dx = n <= 1 ? W : W / (n - 1)
    let d = ''
    values.forEach((v, i) => {
      if (!known(v)) return
      const x = n <= 1 ? W : i * dx
      const y = (H - 2 - (max > 0 ? (v / max) * (H - 4) : 0)).toFixed(1)
      const joined = i > 0 && known(values[i - 1])
      if (joined) d += `L${x.toFixed(1)},${y}`
      else if (!known(values[i + 1])) d += `M${Math.max(0, x - Math.max(dx / 2, 4)).toFixed(1)},${y}L${x.toFixed(1)},${y}`
      else d += `M${x.toFixed(1)},${y}`
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
      // One unbroken series (a count per step) is filled down to the axis.
      if (lists.length === 1 && d.indexOf('M', 1) === -1) {
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
