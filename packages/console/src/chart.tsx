import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  color: string;
  /** Money series draw with a $ axis. */
  money?: boolean;
}

/**
 * A uPlot line chart over time (seconds since the epoch). uPlot draws on a canvas, so the chart
 * also carries a text summary for screen readers (`role="img"` with a label).
 */
export function TimeChart({
  title,
  times,
  series,
  summary,
  bars = false,
}: {
  title: string;
  times: number[];
  series: ChartSeries[];
  summary: string;
  bars?: boolean;
}) {
  const container = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const money = series[0]?.money === true;
    const options: uPlot.Options = {
      width: Math.max(280, element.clientWidth || 600),
      height: 220,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      // Half a day of margin each side: a single day would otherwise stretch the axis over years.
      scales: { x: { time: true, range: (_plot, min, max) => [min - 43_200, max + 43_200] } },
      axes: [
        { stroke: '#333' },
        {
          stroke: '#333',
          size: 70,
          values: (_plot, ticks) => {
            // As many decimals as the tick step needs, so close ticks never read the same.
            const step = ticks.length > 1 ? Math.abs(ticks[1]! - ticks[0]!) : 1;
            const decimals = Math.min(6, Math.max(money ? 2 : 0, -Math.floor(Math.log10(step || 1))));
            return ticks.map((tick) => `${money ? '$' : ''}${tick.toFixed(decimals)}`);
          },
        },
      ],
      series: [
        {},
        ...series.map((entry) => ({
          label: entry.label,
          stroke: entry.color,
          width: 2,
          fill: `${entry.color}22`,
          ...(bars && { paths: uPlot.paths.bars?.({ size: [0.6, 40] }) }),
          points: { show: times.length < 40 },
        })),
      ],
    };
    const plot = new uPlot(options, [times, ...series.map((entry) => entry.values)], element);
    const resize = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(280, element.clientWidth), height: 220 }),
    );
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [times, series, bars]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={container} role="img" aria-label={`${title}: ${summary}`} />
    </figure>
  );
}
