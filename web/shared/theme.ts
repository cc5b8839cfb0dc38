/**
 * Theming through URL parameters, so a product embedding the page makes it look like its own:
 * read from the query and from the fragment (after the token), the later winning.
 *
 * | parameter | effect |
 * | --- | --- |
 * | `primaryColor` | buttons, links, focus (any CSS colour, e.g. `%23e11d48`) |
 * | `theme` | `light`, `dark` or `auto` (the reader's system setting; default) |
 * | `fontFamily` | the font (one installed on the reader's machine; default the bundled Inter) |
 * | `logo` | the URL of a logo shown in the header |
 * | `hideNav` | `true`: no header and navigation (the embedding product has its own) |
 */

/** The resolved look. */
export interface Theme {
  primaryColor: string | null;
  mode: 'light' | 'dark' | 'auto';
  fontFamily: string | null;
  logo: string | null;
  hideNav: boolean;
}

/** The theme `params` ask for; values a browser would not take are ignored. */
export function themeFrom(params: URLSearchParams): Theme {
  const color = params.get('primaryColor');
  const mode = params.get('theme');
  const font = params.get('fontFamily');
  const logo = params.get('logo');
  return {
    primaryColor: color && CSS.supports('color', color) ? color : null,
    mode: mode === 'light' || mode === 'dark' ? mode : 'auto',
    // Quotes and semicolons would reach past the font-family value.
    fontFamily: font && /^[\p{L}\p{N} ,_-]{1,100}$/u.test(font) ? font : null,
    logo: logo && /^(https?:|\/)/.test(logo) ? logo : null,
    hideNav: params.get('hideNav') === 'true' || params.get('hideNav') === '1',
  };
}

/** Applies `theme` to the document (Pico's variables and its `data-theme`). */
export function applyTheme(theme: Theme, root: HTMLElement = document.documentElement): void {
  if (theme.mode === 'auto') root.removeAttribute('data-theme');
  else root.setAttribute('data-theme', theme.mode);
  const c = theme.primaryColor;
  if (c) {
    const set = (name: string, value: string) => root.style.setProperty(name, value);
    set('--pico-primary', c);
    set('--pico-primary-background', c);
    set('--pico-primary-border', c);
    set('--pico-primary-underline', `color-mix(in srgb, ${c} 50%, transparent)`);
    set('--pico-primary-hover', `color-mix(in srgb, ${c} 82%, black)`);
    set('--pico-primary-hover-background', `color-mix(in srgb, ${c} 82%, black)`);
    set('--pico-primary-hover-border', `color-mix(in srgb, ${c} 82%, black)`);
    set('--pico-primary-focus', `color-mix(in srgb, ${c} 40%, transparent)`);
  }
  if (theme.fontFamily)
    root.style.setProperty('--pico-font-family', `${theme.fontFamily}, var(--portal-font)`);
}
