/**
 * Letters of other scripts that look like Latin ones, for telling spoofed
 * tool names (`reаd_file` with a Cyrillic `а`) from real ones. Data only.
 */

/** Lookalike letters of other scripts, folded to the Latin letter they imitate (for name spoofing). */
export const CONFUSABLES: Record<string, string> = {
  а: 'a', в: 'b', е: 'e', ё: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', у: 'y', х: 'x',
  ѕ: 's', і: 'i', ї: 'i', ј: 'j', ԁ: 'd', ԛ: 'q', ԝ: 'w', ӏ: 'l', һ: 'h', ɡ: 'g', ɩ: 'i', ı: 'i',
  α: 'a', β: 'b', ε: 'e', η: 'n', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', τ: 't', υ: 'u', χ: 'x', ω: 'w',
  ℓ: 'l', '﹘': '-', '‐': '-', '‑': '-',
};
