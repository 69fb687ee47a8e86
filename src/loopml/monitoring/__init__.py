"""Model monitoring computations: drift of a window against a reference (:mod:`.drift`),
realized quality from labels (:mod:`.quality`), quality estimated without labels
(:mod:`.estimate`) and the HTML report (:mod:`.html`). Pure functions over tables and arrays;
the values they return are those of :mod:`loopml.api.monitoring`."""
