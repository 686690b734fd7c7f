"""Search strategies over one Space. Both propose candidates not yet tried; `measured` is
[(candidate, objective)] so far (objective None: failed)."""


def propose_random(space, measured, tried, rng, n):
    pool = [c for c in space.all() if c.id not in tried]
    rng.shuffle(pool)
    return pool[:n]


def propose_evolution(space, measured, tried, rng, n, parents=4, explore=0.15):
    """Steady-state evolution: children of the best `parents` so far, by crossover (when
    two parents share a template) or mutation, plus a little random exploration. Until
    there are parents, random."""
    good = sorted(((obj, c) for c, obj in measured if obj is not None), key=lambda t: t[0])
    elite = [c for _, c in good[:parents]]
    out, ids = [], set(tried)
    for _ in range(n * 30):
        if len(out) == n:
            break
        if not elite or rng.random() < explore:
            child = space.random(rng)
        else:
            a = rng.choice(elite)
            mates = [b for b in elite if b.template == a.template and b.id != a.id]
            child = space.crossover(a, rng.choice(mates), rng) if mates and rng.random() < 0.3 else space.mutate(a, rng)
        if child.id not in ids:
            ids.add(child.id)
            out.append(child)
    return out


STRATEGIES = {"random": propose_random, "evolution": propose_evolution}
