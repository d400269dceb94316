"""Where a study's results live: the output folder and pack layouts (:mod:`~evoprune.study.store.layout`),
packing finished runs into shards, and loading results from either."""
