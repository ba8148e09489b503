// Numbers and times on the public pages as the brand's locale writes them (Intl), times
// in the viewer's own time zone. The server writes the same with Babel (in UTC) so the
// page reads right before this runs; this only moves times to the viewer's zone.

/** The page's locale ("de-DE"), from its config; the browser's if none. */
export function pageLocale(config) {
  return (config && config.locale) || undefined;
}

/** A count with the locale's digits and grouping: 1.234 in de-DE. */
export function count(n, locale) {
  return new Intl.NumberFormat(locale).format(n);
}

/** A page word with its {n}, {time} or {when} filled in. */
export function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (all, key) => (key in values ? String(values[key]) : all));
}

/** <time datetime> elements in the viewer's zone: date and time for `data-local` ones
 * (a show's start), the date alone for the others (a replay's day). */
export function localizeTimes(locale, root = document) {
  const dateTime = new Intl.DateTimeFormat(locale, {
    weekday: "short", day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  const dateOnly = new Intl.DateTimeFormat(locale, { dateStyle: "medium" });
  for (const el of root.querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) continue;
    el.textContent = (el.hasAttribute("data-local") ? dateTime : dateOnly).format(when);
  }
}
