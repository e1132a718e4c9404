// Charts (uPlot, vendored: a classic script that defines the global `uPlot`).

const width = (container) => Math.max(container.clientWidth - 8, 280);

export function lossChart(container) {
  const css = getComputedStyle(document.documentElement);
  const data = [[], [], []];
  const opts = {
    width: width(container), height: 300,
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ label: "epoch", stroke: css.getPropertyValue("--fg") },
      { label: "MSE loss (log)", stroke: css.getPropertyValue("--fg"), size: 70 }],
    series: [{ label: "epoch" },
      { label: "train", stroke: css.getPropertyValue("--train").trim(), width: 2 },
      { label: "test", stroke: css.getPropertyValue("--test").trim(), width: 2, dash: [6, 4] }],
  };
  const chart = new uPlot(opts, data, container);
  const resize = () => chart.setSize({ width: width(container), height: 300 });
  window.addEventListener("resize", resize);
  return {
    set(history) {
      const n = history.train_loss.length;
      data[0] = history.epoch && history.epoch.length === n ? history.epoch.slice()
        : Array.from({ length: n }, (_, i) => i + 1);
      data[1] = history.train_loss.slice();
      data[2] = history.test_loss.slice();
      chart.setData(data);
      container.dataset.points = String(n);
    },
    add(epoch, train, test) {
      const at = data[0].indexOf(epoch);
      if (at >= 0) { data[1][at] = train; data[2][at] = test; } else {
        data[0].push(epoch); data[1].push(train); data[2].push(test);
      }
      chart.setData(data);
      container.dataset.points = String(data[0].length);
    },
    destroy() { window.removeEventListener("resize", resize); chart.destroy(); },
  };
}

export function forecastChart(container, lines) {
  // lines: [{label, x, y, color, dash, points, fill}] drawn on one shared x axis; a line with `fill` is an
  // interval's upper bound, shaded down to the next line (its lower bound).
  const css = getComputedStyle(document.documentElement);
  const xs = [...new Set(lines.flatMap((l) => l.x))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const data = [xs, ...lines.map((l) => {
    const ys = new Array(xs.length).fill(null);
    l.x.forEach((x, i) => { ys[index.get(x)] = l.y[i]; });
    return ys;
  })];
  const bands = lines.flatMap((l, i) => (l.fill ? [{ series: [i + 1, i + 2], fill: l.fill }] : []));
  const chart = new uPlot({
    width: width(container), height: 300,
    scales: { x: { time: false } },
    axes: [{ label: "t", stroke: css.getPropertyValue("--fg") }, { stroke: css.getPropertyValue("--fg") }],
    series: [{ label: "t" }, ...lines.map((l) => ({
      label: l.label, stroke: l.color, width: l.points ? 0 : 2, dash: l.dash,
      points: l.points ? { show: true, size: 5, fill: l.color } : { show: false },
    }))],
    bands,
  }, data, container);
  container.dataset.points = String(xs.length);
  container.dataset.bands = String(bands.length);
  return chart;
}
