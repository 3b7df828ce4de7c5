rule merge:
    input:
        unpack(chunk_counts),
        cohorts=config["cohorts"],
        samples=config["samples"],
    output:
        records=temp(f"{OUTDIR}/merged/{{chunk}}.parquet"),
        summary=f"{OUTDIR}/merged/{{chunk}}.summary.json",
    log:
        f"{OUTDIR}/logs/merge/{{chunk}}.log",
    params:
        counts=lambda wildcards, input: " ".join(
            f"{cohort}={input[cohort]}" for cohort in COHORTS
        ),
        build=config["reference"]["build"],
        par=par_option(),
        absent_sites=config["merge"]["absent_sites"],
        faf_exclude=" ".join(config["frequencies"]["faf_exclude"]),
        min_group_size=config["privacy"]["min_group_size"],
        min_carriers=config["privacy"]["min_carriers"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "europanel merge --cohorts {input.cohorts} --samples {input.samples}"
        " --chunk {wildcards.chunk} --counts {params.counts}"
        " --build {params.build} {params.par} --absent-sites {params.absent_sites}"
        " --faf-exclude {params.faf_exclude} --min-group-size {params.min_group_size}"
        " --min-carriers {params.min_carriers}"
        " --output {output.records} --summary {output.summary} > {log} 2>&1"
