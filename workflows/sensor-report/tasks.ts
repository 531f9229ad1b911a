/**
 * The Task states of machine.asl.json, by the Lambda function names in their Resource ARNs.
 * Lambda-style: each gets the state's effective input and returns its result.
 */
class InvalidReadings extends Error {
  override name = 'InvalidReadings';
}

type Sensor = { id: string; raw: number };

export function validate(input: { readings?: unknown }): { count: number } {
  const r = input.readings;
  if (!Array.isArray(r) || !r.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new InvalidReadings('readings must be an array of finite numbers');
  }
  return { count: r.length };
}

export function statistics(readings: number[]): { mean: number; min: number; max: number } {
  const mean = readings.reduce((a, b) => a + b, 0) / readings.length;
  return { mean: Math.round(mean * 1000) / 1000, min: Math.min(...readings), max: Math.max(...readings) };
}

/** Readings more than 3 median absolute deviations from the median. */
export function outliers(readings: number[]): number[] {
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const med = median(readings);
  const mad = median(readings.map((x) => Math.abs(x - med)));
  return readings.filter((x) => Math.abs(x - med) > 3 * mad);
}

export function calibrate(item: { sensor: Sensor; offset: number }): { id: string; value: number } {
  return { id: item.sensor.id, value: Math.round((item.sensor.raw + item.offset) * 1000) / 1000 };
}
