// jstat ships no types; these are the few functions the monitoring statistics call.
declare module 'jstat' {
  interface JStatStatic {
    gammaln(x: number): number;
    lowRegGamma(a: number, x: number): number;
    chisquare: { cdf(x: number, dof: number): number };
  }
  const jStat: JStatStatic;
  export default jStat;
}
