// Tipping: amount presets or a custom amount, optional name and message, then Stripe
// Checkout (kind "tip") with a way back to this page. The goal's progress shows here too.
import { el, money } from "./ui.js";
import { Gate } from "./viewer-queues.js";
import { parseAmount } from "./viewer-amount.js";

const PRESETS = [300, 500, 1000, 2000];
const MIN_CENTS = 100, MAX_CENTS = 100_000;

export class Tip {
  /** @param {(body: object) => Promise<void>} pay starts a checkout and leaves the page */
  constructor(me, goalCents, pay) {
    this.pay = pay;
    this.amount = PRESETS[1];
    this.custom = el("input", { id: "tip-custom", name: "custom", inputmode: "decimal", autocomplete: "off",
      placeholder: "Other", "aria-describedby": "tip-note",
      oninput: () => { if (this.custom.value.trim()) this.pick(null); } });
    this.presets = PRESETS.map((cents) => el("button", { type: "button", className: "secondary preset",
      "aria-pressed": cents === this.amount ? "true" : "false", onclick: () => { this.custom.value = ""; this.pick(cents); } },
      money(cents, 0)));
    this.name = el("input", { id: "tip-name", name: "from_name", maxlength: "80", autocomplete: "nickname", value: me.name || "" });
    this.message = el("input", { id: "tip-message", name: "message", maxlength: "500", autocomplete: "off" });
    this.note = el("p", { id: "tip-note", className: "note", role: "status" });
    const button = el("button", { type: "submit", className: "tip-go" }, "Tip");
    this.button = button;
    this.gate = new Gate(button, this.note);
    this.goal = el("div", { className: "goal", hidden: true },
      el("div", { className: "goal-text" }), el("div", { className: "bar", "aria-hidden": "true" }, el("span")));
    this.node = el("section", { className: "card tip", id: "tip", "aria-labelledby": "tip-h" },
      el("h2", { id: "tip-h" }, "Send a tip"), this.goal,
      el("form", { className: "stack", onsubmit: (e) => { e.preventDefault(); this.submit(); } },
        el("fieldset", { className: "presets" }, el("legend", { className: "visually-hidden" }, "Amount"),
          el("div", { className: "row" }, ...this.presets,
            el("label", { for: "tip-custom", className: "visually-hidden" }, "Other amount in dollars"),
            el("div", { className: "custom" }, el("span", { "aria-hidden": "true" }, "$"), this.custom))),
        el("div", { className: "field" }, el("label", { for: "tip-name" }, "Your name (optional)"), this.name),
        el("div", { className: "field" }, el("label", { for: "tip-message" }, "Message (optional)"), this.message),
        button),
      this.note);
    this.showGoal(0, goalCents);
    this.pick(this.amount);
  }

  pick(cents) {
    this.amount = cents;
    for (const [i, b] of this.presets.entries()) b.setAttribute("aria-pressed", PRESETS[i] === cents ? "true" : "false");
    const chosen = this.cents();
    this.button.textContent = chosen >= MIN_CENTS && chosen <= MAX_CENTS ? `Tip ${money(chosen)}` : "Tip";
  }

  showGoal(paid, goal) {
    if (!goal) { this.goal.hidden = true; return; }
    this.goal.hidden = false;
    this.goal.querySelector(".goal-text").textContent = `${money(paid, 0)} of ${money(goal, 0)} goal`;
    this.goal.querySelector(".bar span").style.width = `${Math.min(100, (100 * paid) / goal)}%`;
  }

  cents() {
    if (this.amount) return this.amount;
    const parsed = parseAmount(this.custom.value);
    return "cents" in parsed ? parsed.cents : NaN;
  }

  async submit() {
    const cents = this.cents();
    const parsed = this.amount ? null : parseAmount(this.custom.value);
    if (parsed && "error" in parsed) {
      this.note.textContent = parsed.error;
      this.custom.focus();
      return;
    }
    if (!(cents >= MIN_CENTS && cents <= MAX_CENTS)) {
      this.note.textContent = `Choose an amount between ${money(MIN_CENTS, 0)} and ${money(MAX_CENTS, 0)}.`;
      this.custom.focus();
      return;
    }
    this.gate.set("busy", "Opening secure checkout…");
    try {
      await this.pay({ kind: "tip", amount_cents: cents,
        from_name: this.name.value.trim() || undefined, message: this.message.value.trim() || undefined });
    } catch (err) {
      this.gate.set("busy", null);
      this.note.textContent = `Couldn't start the payment: ${err?.message || "please try again"}`;
    }
  }
}
