import { describe, expect, it } from 'vitest';
import { SimNetwork } from './network.js';
import { Prng } from './prng.js';

interface M {
  from: number;
  to: number;
  n: number;
}

function drain(net: SimNetwork<M>, untilTick: number): { tick: number; m: M }[] {
  const out: { tick: number; m: M }[] = [];
  for (let t = 0; t <= untilTick; t++) {
    for (let m = net.deliverDue(t); m !== undefined; m = net.deliverDue(t)) out.push({ tick: t, m });
  }
  return out;
}

describe('SimNetwork', () => {
  it('delivers after a delay within [min, max] ticks', () => {
    const net = new SimNetwork<M>(new Prng(1), { delayTicksMin: 2, delayTicksMax: 5 });
    for (let n = 0; n < 200; n++) net.send({ from: 1, to: 2, n }, 10);
    const got = drain(net, 20);
    expect(got).toHaveLength(200);
    for (const { tick } of got) {
      expect(tick).toBeGreaterThanOrEqual(12);
      expect(tick).toBeLessThanOrEqual(15);
    }
    expect(net.deliverDue(100)).toBeUndefined();
  });

  it('reorders messages (random delays and random order within a tick)', () => {
    const net = new SimNetwork<M>(new Prng(2), { delayTicksMin: 1, delayTicksMax: 3 });
    for (let n = 0; n < 50; n++) net.send({ from: 1, to: 2, n }, 0);
    const order = drain(net, 10).map((d) => d.m.n);
    expect(order).not.toEqual([...order].sort((a, b) => a - b));
  });

  it('drops and duplicates at roughly the configured rates', () => {
    const net = new SimNetwork<M>(new Prng(3), { dropProb: 0.2, dupProb: 0.1 });
    for (let n = 0; n < 10_000; n++) net.send({ from: 1, to: 2, n }, 0);
    const got = drain(net, 5);
    expect(net.stats.dropped).toBeGreaterThan(1700);
    expect(net.stats.dropped).toBeLessThan(2300);
    expect(net.stats.duplicated).toBeGreaterThan(600);
    expect(got.length).toBe(10_000 - net.stats.dropped + net.stats.duplicated);
  });

  it('loses everything across a symmetric partition, both ways, until healed', () => {
    const net = new SimNetwork<M>(new Prng(4));
    const lost: M[] = [];
    net.onLoss = (m) => lost.push(m);
    net.partition([[1], [2, 3]]);
    net.send({ from: 1, to: 2, n: 1 }, 0);
    net.send({ from: 3, to: 1, n: 2 }, 0);
    net.send({ from: 2, to: 3, n: 3 }, 0);
    expect(drain(net, 3).map((d) => d.m.n)).toEqual([3]);
    expect(lost.map((m) => m.n)).toEqual([1, 2]);
    net.heal();
    net.send({ from: 1, to: 2, n: 4 }, 5);
    expect(net.deliverDue(6)?.n).toBe(4);
  });

  it('blocks one direction only', () => {
    const net = new SimNetwork<M>(new Prng(5));
    net.block(1, 2);
    net.send({ from: 1, to: 2, n: 1 }, 0);
    net.send({ from: 2, to: 1, n: 2 }, 0);
    expect(drain(net, 3).map((d) => d.m.n)).toEqual([2]);
    expect(net.isBlocked(1, 2)).toBe(true);
    expect(net.isBlocked(2, 1)).toBe(false);
  });

  it('loses a message whose link is cut while it is in flight', () => {
    const net = new SimNetwork<M>(new Prng(6), { delayTicksMin: 5, delayTicksMax: 5 });
    net.send({ from: 1, to: 2, n: 1 }, 0);
    net.partition([[1], [2]]);
    expect(drain(net, 10)).toEqual([]);
    expect(net.stats.blocked).toBe(1);
  });

  it('drops what is in flight to or from a dead node', () => {
    const net = new SimNetwork<M>(new Prng(7), { delayTicksMin: 3, delayTicksMax: 3 });
    net.send({ from: 1, to: 2, n: 1 }, 0);
    net.send({ from: 2, to: 3, n: 2 }, 0);
    net.send({ from: 3, to: 1, n: 3 }, 0);
    net.dropNode(2);
    expect(drain(net, 5).map((d) => d.m.n)).toEqual([3]);
  });

  it('bounds the messages in flight', () => {
    const net = new SimNetwork<M>(new Prng(8), { inFlightMessagesMax: 10 });
    for (let n = 0; n < 15; n++) net.send({ from: 1, to: 2, n }, 0);
    expect(net.inFlight).toBe(10);
    expect(net.stats.overflowed).toBe(5);
  });

  it('is deterministic for a seed', () => {
    const run = (): number[] => {
      const net = new SimNetwork<M>(new Prng(99), { dropProb: 0.1, dupProb: 0.1, delayTicksMax: 4 });
      for (let n = 0; n < 100; n++) net.send({ from: 1 + (n % 3), to: 2, n }, n % 7);
      return drain(net, 20).map((d) => d.m.n);
    };
    expect(run()).toEqual(run());
  });

  it('validates its options', () => {
    expect(() => new SimNetwork<M>(new Prng(1), { dropProb: 2 })).toThrow(RangeError);
    expect(() => new SimNetwork<M>(new Prng(1), { delayTicksMin: 0 })).toThrow(RangeError);
    expect(() => new SimNetwork<M>(new Prng(1), { delayTicksMin: 3, delayTicksMax: 2 })).toThrow(RangeError);
  });
});
