"""convt3d's autotuner: searches the schedule knobs of the forward kernel's templates."""
