// Languages: the catalogue of the chosen language (served merged with the
// plugins' entries at /console/messages/<language>.json), t() to look texts up,
// and Intl formatting of dates, numbers and money for that language.

const LANGUAGE_KEY = "kehu.console.language"; // this device's last choice, for the sign-in page

let language = "en";
let texts = {};
let currency = "CNY";
let zone = "UTC"; // the business calendar's ([kehu] timezone): its months begin at its midnight
const missing = new Set(); // keys asked for and not found (read by the browser tests)

// GraphQL enum -> catalogue prefix: t(`${prefix}.${VALUE}`). The catalogue test
// checks every value of each of these enums has a text in both languages.
export const ENUM_KEYS = {
  "CustomerKind": "customer.kind",
  "InteractionKind": "interaction.kind",
  "Direction": "interaction.direction",
  "Role": "role",
  "Language": "language",
  "ComplaintStatus": "complaints.status",
  "ComplaintPriority": "complaints.priority",
  "ComplaintChannel": "complaints.channel",
  "LoyaltyEntryKind": "loyalty.entryKind",
  "VoucherStatus": "loyalty.voucherStatus",
  "ValueTier": "segmentation.valueTier",
  "LifecycleStage": "segmentation.lifecycleStage",
  "FrequencyClass": "segmentation.frequencyClass",
  "AbcClass": "segmentation.abcClass",
  "SurveyStatus": "surveys.status",
  "SurveyQuestionType": "surveys.questionType",
  "DuplicateReason": "duplicates.reason",
  "DuplicateStatus": "duplicates.status",
  "DuplicateSource": "duplicates.source",
};

export const LANGUAGES = { ZH_CN: "zh-CN", EN: "en" }; // the GraphQL Language enum
export const languageOf = (tag) => Object.keys(LANGUAGES).find((k) => LANGUAGES[k] === tag) || null;

export function currentLanguage() { return language; }
export function missingKeys() { return [...missing]; }
export function setCurrency(code) { currency = code || currency; }
export function setTimeZone(name) { zone = name || zone; }

// The browser's language when nobody chose one: the first of navigator.languages
// kehu speaks (zh, zh-CN, zh-Hans… are Simplified Chinese; zh-TW/HK are not).
export function browserLanguage(available = Object.values(LANGUAGES)) {
  for (const tag of navigator.languages || [navigator.language]) {
    const parts = String(tag).toLowerCase().split(/[-_]/);
    if (parts[0] === "en" && available.includes("en")) return "en";
    if (parts[0] === "zh" && !parts.some((p) => ["tw", "hk", "mo", "hant"].includes(p)) && available.includes("zh-CN")) return "zh-CN";
  }
  return "en";
}

export function rememberedLanguage() {
  const stored = localStorage.getItem(LANGUAGE_KEY);
  return Object.values(LANGUAGES).includes(stored) ? stored : null;
}

// Loads ``tag``'s catalogue; ``remember``: a choice (the switch, the account's
// setting) that this device keeps for its sign-in page.
export async function useLanguage(tag, { remember = false } = {}) {
  const response = await fetch(`/console/messages/${encodeURIComponent(tag)}.json`, { cache: "no-cache" });
  if (!response.ok) throw new Error(`messages for ${tag}: HTTP ${response.status}`);
  texts = await response.json();
  language = tag;
  if (remember) localStorage.setItem(LANGUAGE_KEY, tag);
  document.documentElement.lang = tag;
  document.title = t("app.title");
}

// Another language's catalogue (e.g. to write a survey's questions in the
// language of its page), fetched once.
const others = new Map();
export async function textsOf(tag) {
  if (tag === language) return texts;
  if (!others.has(tag)) {
    others.set(tag, fetch(`/console/messages/${encodeURIComponent(tag)}.json`, { cache: "no-cache" })
      .then((response) => (response.ok ? response.json() : {})));
  }
  return others.get(tag);
}

// t("customer.interactions", {count: 3}): "{name}" placeholders; a key with ".one" /
// ".other" forms is chosen by Intl.PluralRules when params.count is given.
export function t(key, params = {}) {
  let text = texts[key];
  if (typeof params.count === "number") {
    const form = new Intl.PluralRules(language).select(params.count);
    text = texts[`${key}.${form}`] ?? texts[`${key}.other`] ?? text;
  }
  if (text === undefined) {
    missing.add(key);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    name in params ? (typeof params[name] === "number" ? formatNumber(params[name]) : String(params[name])) : whole);
}

// A text for a value of a GraphQL enum (ENUM_KEYS), or the value made readable.
export function label(enumName, value) {
  if (value === null || value === undefined || value === "") return "—";
  const key = `${ENUM_KEYS[enumName]}.${value}`;
  return key in texts ? texts[key] : humanize(value);
}

// A text for a configured name (a complaint category, an RFM segment) when the
// catalogue has one, else the name as configured.
export function named(prefix, value) {
  if (!value) return "—";
  const key = `${prefix}.${value}`;
  return key in texts ? texts[key] : humanize(value);
}

function humanize(value) {
  return String(value).toLowerCase().replaceAll("_", " ");
}

// --------------------------------------------------------------------------- formatting

export function formatDate(value, withTime = true) {
  if (!value) return "—";
  const date = new Date(value);
  return withTime
    ? new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" }).format(date)
    : new Intl.DateTimeFormat(language, { dateStyle: "medium" }).format(date);
}

// A month's label: a date ("2026-05-01") as it is, an instant (a period's start)
// as the month it falls in on the business calendar.
export function formatMonth(iso) {
  const timeZone = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? "UTC" : zone;
  return new Intl.DateTimeFormat(language, { month: "short", year: "2-digit", timeZone }).format(new Date(iso));
}

// --------------------------------------------------------------------------- the business calendar

// The calendar date and time of an instant in the business time zone, as numbers.
function wallClock(instant) {
  const format = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric",
    month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" });
  return Object.fromEntries(format.formatToParts(new Date(instant)).map((p) => [p.type, Number(p.value)]));
}

function offsetAt(instant) {
  const w = wallClock(instant);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(instant / 1000) * 1000;
}

// The first instant of a month (0-based, may run past either end of the year) on
// the business calendar: its midnight, with the offset in force at that moment.
function monthStart(year, month) {
  const wall = Date.UTC(year, month, 1);
  return new Date(wall - offsetAt(wall - offsetAt(wall)));
}

// The last `count` months of the business calendar, the current one last, as
// `{ start, end }` ISO instants: what a month's figures are asked for.
export function recentMonths(count, now = new Date()) {
  const today = wallClock(now.getTime());
  return Array.from({ length: count }, (_, i) => {
    const month = today.month - 1 - (count - 1) + i;
    return { start: monthStart(today.year, month).toISOString(), end: monthStart(today.year, month + 1).toISOString() };
  });
}

export function formatNumber(value, digits = 0) {
  if (value === null || value === undefined || value === "") return "—";
  return new Intl.NumberFormat(language, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(Number(value));
}

export function formatMoney(value, { compact = false } = {}) {
  if (value === null || value === undefined || value === "") return "—";
  const options = { style: "currency", currency, currencyDisplay: "narrowSymbol" };
  if (compact) Object.assign(options, { notation: "compact", maximumFractionDigits: 1 });
  return new Intl.NumberFormat(language, options).format(Number(value));
}

export function currencySymbol() {
  const part = new Intl.NumberFormat(language, { style: "currency", currency, currencyDisplay: "narrowSymbol" }).formatToParts(0).find((p) => p.type === "currency");
  return part ? part.value : currency;
}

export function formatPercent(value, digits = 1) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(language, { style: "percent", maximumFractionDigits: digits }).format(Number(value) / 100);
}

// "in 3 hours" / "2 days ago", with Intl.RelativeTimeFormat.
export function formatRelative(value, now = Date.now()) {
  if (!value) return "—";
  const seconds = (new Date(value).getTime() - now) / 1000;
  const rtf = new Intl.RelativeTimeFormat(language, { numeric: "auto" });
  const abs = Math.abs(seconds);
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  return rtf.format(Math.round(seconds / 86400), "day");
}

// SLA countdowns on the complaints board: "due in 3h 12m" / "overdue by 2d 4h".
export function countdown(due, now = Date.now()) {
  if (!due) return { text: t("complaints.sla.none"), overdue: false };
  let ms = new Date(due).getTime() - now;
  const overdue = ms < 0;
  ms = Math.abs(ms);
  const d = Math.floor(ms / 86400000), hrs = Math.floor((ms % 86400000) / 3600000);
  const m = Math.floor((ms % 3600000) / 60000), sec = Math.floor((ms % 60000) / 1000);
  const span = d ? t("time.dh", { d, h: hrs }) : hrs ? t("time.hm", { h: hrs, m }) : t("time.ms", { m, s: sec });
  return { text: t(overdue ? "complaints.sla.overdue" : "complaints.sla.due", { span }), overdue, soon: !overdue && ms < 4 * 3600000 };
}
