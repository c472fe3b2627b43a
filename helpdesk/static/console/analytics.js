// Draws the analytics page's charts from the figures the server embedded as JSON
// (json_script), with Chart.js served from static. No inline script: the console's CSP allows 'self' only.
(function () {
  "use strict";
  const figures = JSON.parse(document.getElementById("analytics-data").textContent);
  const palette = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#9ca3af"];
  const days = figures.days.map((day) => day.slice(5));

  function percent(value) {
    return value === "" || value === null ? "—" : `${(Number(value) * 100).toFixed(1)} %`;
  }
  document.querySelectorAll("[data-rate]").forEach((element) => {
    element.textContent = percent(element.dataset.rate);
  });

  function duration(value) {
    if (value === "" || value === null) {
      return "—";
    }
    const seconds = Number(value);
    if (seconds < 1) {
      return `${Math.round(seconds * 1000)} ms`;
    }
    if (seconds < 90) {
      return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
    }
    if (seconds < 5400) {
      return `${Math.round(seconds / 60)} min`;
    }
    return `${(seconds / 3600).toFixed(1)} h`;
  }
  document.querySelectorAll("[data-seconds]").forEach((element) => {
    element.textContent = duration(element.dataset.seconds);
  });

  if (typeof Chart === "undefined") {
    return;
  }
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;

  // Sentiment reads as a scale, from good to bad, in that order and colour whatever the data holds.
  const sentimentColours = {
    positive: "#16a34a",
    neutral: "#9ca3af",
    negative: "#f59e0b",
    frustrated: "#ea580c",
    angry: "#dc2626",
  };
  function seriesDatasets(series, colours) {
    let entries = Object.entries(series);
    if (colours) {
      const order = Object.keys(colours);
      const rank = (name) => (order.includes(name) ? order.indexOf(name) : order.length);
      entries = entries.sort(([a], [b]) => rank(a) - rank(b));
    }
    return entries.map(([name, counts], index) => {
      const colour = (colours && colours[name]) || palette[index % palette.length];
      return { label: name, data: counts, backgroundColor: colour, borderColor: colour };
    });
  }
  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (canvas) {
      new Chart(canvas, config);
    }
  }
  const stacked = { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } };

  const perDay = figures.conversations.per_day;
  const percentOf = (rate) => (rate === null ? null : Math.round(rate * 1000) / 10);
  draw("chart-conversations", {
    type: "bar",
    data: {
      labels: days,
      datasets: [
        { label: "Resolved by the AI", data: perDay.map((d) => d.resolved_by_ai), backgroundColor: palette[1], stack: "c" },
        { label: "Others", data: perDay.map((d) => d.count - d.resolved_by_ai), backgroundColor: palette[8], stack: "c" },
        {
          label: "Automation rate %",
          type: "line",
          data: perDay.map((d) => percentOf(d.automation_rate)),
          borderColor: palette[0],
          backgroundColor: palette[0],
          yAxisID: "rate",
        },
        {
          label: "Escalation rate %",
          type: "line",
          data: perDay.map((d) => percentOf(d.escalation_rate)),
          borderColor: palette[3],
          backgroundColor: palette[3],
          yAxisID: "rate",
        },
      ],
    },
    options: {
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "conversations" } },
        rate: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: "%" } },
      },
    },
  });
  draw("chart-intents", {
    type: "doughnut",
    data: {
      labels: figures.turns.intents.map((i) => i.intent),
      datasets: [{ data: figures.turns.intents.map((i) => i.count), backgroundColor: palette }],
    },
    options: { plugins: { legend: { position: "right" } } },
  });
  draw("chart-sentiment", { type: "bar", data: { labels: days, datasets: seriesDatasets(figures.turns.sentiment_per_day, sentimentColours) }, options: { scales: stacked } });
  draw("chart-escalations", { type: "bar", data: { labels: days, datasets: seriesDatasets(figures.turns.escalation_reasons_per_day) }, options: { scales: stacked } });
  draw("chart-qa", {
    type: "bar",
    data: {
      labels: figures.turns.qa_histogram.map((b) => String(b.score)),
      datasets: [{ label: "Answers", data: figures.turns.qa_histogram.map((b) => b.count), backgroundColor: palette[4] }],
    },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  const times = figures.response_times;
  draw("chart-times", {
    type: "bar",
    data: {
      labels: ["First response", "Resolution"],
      datasets: [
        { label: "Bot", data: [times.first_response.bot.p50, times.resolution.bot.p50], backgroundColor: palette[0] },
        { label: "Human", data: [times.first_response.human.p50, times.resolution.human.p50], backgroundColor: palette[2] },
      ],
    },
    // Seconds for the bot, hours for a human: only a log scale shows both.
    options: { scales: { y: { type: "logarithmic", title: { display: true, text: "seconds (median)" } } } },
  });
  draw("chart-llm", {
    type: "bar",
    data: {
      labels: days,
      datasets: [
        { label: "Calls", data: figures.llm.per_day.map((d) => d.calls), backgroundColor: palette[5], yAxisID: "calls" },
        {
          label: "Tokens",
          type: "line",
          data: figures.llm.per_day.map((d) => d.prompt_tokens + d.completion_tokens),
          borderColor: palette[6],
          backgroundColor: palette[6],
          yAxisID: "tokens",
        },
        {
          label: `Cost (${figures.llm.currency})`,
          type: "line",
          data: figures.llm.per_day.map((d) => d.cost),
          borderColor: palette[2],
          backgroundColor: palette[2],
          borderDash: [4, 4],
          yAxisID: "cost",
        },
      ],
    },
    options: {
      scales: {
        calls: { position: "left", beginAtZero: true, ticks: { precision: 0 } },
        tokens: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } },
        cost: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } },
      },
    },
  });
})();
