/** A connection URL fit for logs and the banner: the password replaced, or just the scheme when it does not parse. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.split(':', 1)[0] ?? 'url';
  }
}
