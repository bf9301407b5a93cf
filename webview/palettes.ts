// Heatmap palettes for signed relevance, as data: zennit's diverging colour maps
// (zennit.image.CMAPS, https://github.com/chr5tphr/zennit src/zennit/image.py) and
// one drawn from the VS Code theme. A palette maps t = R / max|R| in [−1, 1] to a
// colour, symmetric around 0: −max|R| is the palette's first colour, 0 its centre
// colour, +max|R| its last.
//
// zennit writes a map in its colour-map language, e.g. bwr = '00f,80:fff,f00': colours
// at indices 0…255 of a 256-entry palette, linear in between; an index given before
// a colon places a colour (0x80 = 128, the centre), colours without one are spaced
// evenly between their neighbours (zennit.cmap.ColorMap). The stops below are those
// sources with every index resolved. zennit samples the map at 255·(t+1)/2; here it is
// sampled at 256·(t+1)/2 (zennit's own last node sits at 256), so 0 lands exactly on
// the centre colour 0x80 and ±max|R| on the end colours.

import { color as d3color } from 'd3';
import { divergingColor, type Palette } from './colors';

export type Rgb = [number, number, number];

/** A colour at a palette index 0…255 (zennit's palette positions; 128 is the centre, t = 0). */
export interface Stop {
  at: number;
  rgb: Rgb;
}

export interface ZennitMap {
  /** zennit's source in its colour-map language, as CMAPS defines it. */
  source: string;
  /** What it looks like, in words. */
  text: string;
  stops: Stop[];
}

const hex = (s: string): Rgb => [parseInt(s.slice(0, 2), 16), parseInt(s.slice(2, 4), 16), parseInt(s.slice(4, 6), 16)];
const stops = (...s: [number, string][]): Stop[] => s.map(([at, c]) => ({ at, rgb: hex(c) }));

/** zennit's diverging maps (the signed ones of zennit.image.CMAPS; gray, wred, wblue, hot and cold are one-sided). */
export const ZENNIT_MAPS = {
  bwr: { source: '00f,80:fff,f00', text: 'blue – white – red', stops: stops([0, '0000ff'], [128, 'ffffff'], [255, 'ff0000']) },
  coldnhot: {
    source: '0ff,00f,80:000,f00,ff0,fff',
    text: 'cyan – blue – black – red – yellow – white',
    // 00f unindexed between 0 and 0x80: int(0.5·128) = 64; f00, ff0 between 0x80 and 0xff: int(128 + (255 − 128)·k/3) = 170, 212.
    stops: stops([0, '00ffff'], [64, '0000ff'], [128, '000000'], [170, 'ff0000'], [212, 'ffff00'], [255, 'ffffff']),
  },
  france: { source: '0055a4,80:fff,ef4135', text: 'blue – white – red of the French flag', stops: stops([0, '0055a4'], [128, 'ffffff'], [255, 'ef4135']) },
  seismic: { source: '0000d0,80:d0d0d0,d00000', text: 'blue – light grey – red, brightness 0xd0', stops: stops([0, '0000d0'], [128, 'd0d0d0'], [255, 'd00000']) },
  coolio: { source: '00d0d0,80:d0d0d0,d000d0', text: 'cyan – light grey – magenta', stops: stops([0, '00d0d0'], [128, 'd0d0d0'], [255, 'd000d0']) },
  coleus: { source: '00d000,80:d0d0d0,d000d0', text: 'green – light grey – magenta', stops: stops([0, '00d000'], [128, 'd0d0d0'], [255, 'd000d0']) },
} satisfies Record<string, ZennitMap>;

export type ZennitName = keyof typeof ZENNIT_MAPS;
/** 'theme': the VS Code theme's negative/positive colours around its neutral (the network view's colours). */
export type PaletteName = ZennitName | 'theme';
export const PALETTE_NAMES: readonly PaletteName[] = [...(Object.keys(ZENNIT_MAPS) as ZennitName[]), 'theme'];

export function isPaletteName(v: unknown): v is PaletteName {
  return typeof v === 'string' && (PALETTE_NAMES as readonly string[]).includes(v);
}

/** A light theme's default is bwr (white at 0, as the page), a dark one's coldnhot (black at 0). */
export function defaultPaletteName(theme: Palette): PaletteName {
  const c = d3color(theme.background)?.rgb();
  const luminance = c ? 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b : 255;
  return luminance >= 128 ? 'bwr' : 'coldnhot';
}

export interface HeatPalette {
  name: PaletteName;
  /** For the palette select and the note under the heatmap. */
  text: string;
  /** Colour of t = R / max|R| (clamped to [−1, 1]). */
  rgb(t: number): Rgb;
}

function fromStops(s: Stop[]): (t: number) => Rgb {
  const nodes = [...s, { at: 256, rgb: s[s.length - 1].rgb }];
  return (t) => {
    const x = ((Math.max(-1, Math.min(1, Number.isFinite(t) ? t : 0)) + 1) / 2) * 256;
    let i = 1;
    while (i < nodes.length - 1 && nodes[i].at < x) i++;
    const a = nodes[i - 1];
    const b = nodes[i];
    const f = b.at === a.at ? 1 : (x - a.at) / (b.at - a.at);
    return [0, 1, 2].map((k) => Math.round(a.rgb[k] + (b.rgb[k] - a.rgb[k]) * f)) as Rgb;
  };
}

export function heatPalette(name: PaletteName, theme: Palette): HeatPalette {
  if (name === 'theme') {
    return {
      name,
      text: 'theme colours (square-root scale, as the network view)',
      rgb: (t) => {
        const c = d3color(divergingColor(theme, t, 1))?.rgb();
        return c ? [Math.round(c.r), Math.round(c.g), Math.round(c.b)] : [128, 128, 128];
      },
    };
  }
  const m: ZennitMap = ZENNIT_MAPS[name];
  return { name, text: `${m.text} (zennit '${name}')`, rgb: fromStops(m.stops) };
}
