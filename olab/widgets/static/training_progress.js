// TrainingProgress: title and status, a progress bar, the latest loss / eval metrics, the live curve.

function render({ model, el }) {
  el.classList.add("olab-widget", "olab-training");
  const title = h("strong", {});
  const status = h("span", {});
  const fill = h("div", { class: "olab-progress-fill" });
  const bar = h("div", { class: "olab-progress", role: "progressbar", "aria-valuemin": 0 }, fill);
  const stats = h("div", { class: "olab-stats" });
  const message = h("div", { class: "olab-muted olab-mono olab-message" });
  const plot = h("div", { class: "olab-plot" });
  el.append(h("div", { class: "olab-header" }, title, " ", status), bar, stats, message, plot);

  function clock(seconds) {
    const s = Math.max(0, Math.round(seconds));
    return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
  }

  function draw() {
    const step = model.get("step");
    const total = model.get("total_steps");
    const elapsed = model.get("elapsed_s");
    const state = model.get("status");
    title.textContent = model.get("title");
    put(status, statusPill(state));
    const frac = state === "done" ? 1 : total ? Math.min(1, step / total) : 0;
    fill.style.width = `${(100 * frac).toFixed(1)}%`;
    bar.setAttribute("aria-valuenow", String(step));
    bar.setAttribute("aria-valuemax", String(total));
    bar.dataset.step = String(step);
    const eta = step && total && state === "training" ? ((total - step) * elapsed) / step : null;
    const metrics = Object.entries(model.get("metrics")).map(([k, v]) => `eval ${k.replaceAll("_", " ")} ${fmtNumber(v)}`);
    const checkpoints = model.get("checkpoints");
    put(stats,
      [
        `step ${step}${total ? ` / ${total}` : ""}`,
        `epoch ${model.get("epoch").toFixed(2)}`,
        model.get("loss") === null ? null : `loss ${fmtNumber(model.get("loss"))}`,
        ...metrics,
        checkpoints.length ? `${checkpoints.length} checkpoint${checkpoints.length > 1 ? "s" : ""}` : null,
        `${clock(elapsed)} elapsed`,
        eta === null ? null : `~${clock(eta)} left`,
      ]
        .filter((s) => s !== null)
        .join(" · "),
    );
    message.textContent = model.get("message");
    message.classList.toggle("olab-bad", state === "failed");
  }

  draw();
  drawFigure(model, plot, model.get("figure"));
  const offs = [
    listen(model, ["title", "status", "step", "total_steps", "epoch", "loss", "metrics", "checkpoints", "elapsed_s", "message"], draw),
    listen(model, ["figure"], () => drawFigure(model, plot, model.get("figure"))),
  ];
  return () => {
    offs.forEach((off) => off());
    purgeFigure(plot);
  };
}
