/**
 * Haven behind a reverse proxy at a path (HAVEN_BASE_URL=https://host/haven): every absolute URL
 * Haven hands out comes from the base URL, prefix included, and every path it puts in a page or a
 * redirect (`/auth/flow…`) is given the prefix too, since the browser resolves it against the host.
 * Requests are accepted with the prefix (a proxy that passes the path on as is) and without it (a
 * proxy that strips it): the router sees the path below the prefix either way.
 */

/** The path of the base URL without a trailing slash: '' at the root, '/haven' below it. */
export function basePathOf(baseUrl: string): string {
  return new URL(baseUrl).pathname.replace(/\/+$/, '');
}

/** A request URL with the base path taken off when it carries it; any other URL unchanged. */
export function stripBasePath(url: string, basePath: string): string {
  if (basePath === '' || !url.startsWith(basePath)) return url;
  const rest = url.slice(basePath.length);
  if (rest === '') return '/';
  return rest.startsWith('/') ? rest : rest.startsWith('?') ? `/${rest}` : url;
}

/** A Haven path (`/auth/flow?…`) as the browser must request it; absolute URLs (the app's redirect_uri) unchanged. */
export function publicPath(location: string, basePath: string): string {
  return location.startsWith('/') && !location.startsWith('//') ? `${basePath}${location}` : location;
}

/** The public URL of a request (as a client or identity provider addressed it), whether or not a proxy stripped the prefix. */
export function publicUrl(requestUrl: string, baseUrl: string): URL {
  const basePath = basePathOf(baseUrl);
  return new URL(`${basePath}${stripBasePath(requestUrl, basePath)}`, baseUrl);
}
