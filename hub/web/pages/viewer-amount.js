// A custom tip amount as a fan types it, in whole cents. "5.50" and "5,50" (a decimal
// comma, as a comma-decimal phone keyboard offers) are $5.50; "1,000" and "1,000.50" are
// thousands groups. Anything that could be read two ways ("1.000,50", "1,5000", "5.505")
// is refused with a reason rather than guessed: a wrong guess charges 100 times too much.

/** @returns {{cents: number} | {error: string}} */
export function parseAmount(typed) {
  const s = String(typed ?? "").replace(/[\s$]/g, "");
  if (!s) return { error: "Enter an amount, for example 5.50." };
  let whole, frac;
  let m = /^(\d*)(?:\.(\d{0,2}))?$/.exec(s);             // 5, 5.5, 5.50, .50
  if (!m) m = /^(\d+),(\d{1,2})$/.exec(s);                // 5,5 5,50: a decimal comma
  if (m) [, whole, frac] = m;
  else {
    const grouped = /^(\d{1,3}(?:,\d{3})+)(?:\.(\d{0,2}))?$/.exec(s);  // 1,000 1,000.50
    if (!grouped) {
      return { error: /^[\d.,]+$/.test(s)
        ? "We can't tell which amount you mean. Write it like 5.50 (two digits for cents) or 1,000."
        : "Please enter the amount in numbers, like 5.50." };
    }
    whole = grouped[1].replace(/,/g, "");
    frac = grouped[2];
  }
  if (!whole && !frac) return { error: "Please enter the amount in numbers, like 5.50." };
  const cents = Number(whole || "0") * 100 + Number((frac || "").padEnd(2, "0"));
  return Number.isSafeInteger(cents) ? { cents } : { error: "That amount is too large." };
}
