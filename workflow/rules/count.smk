rule count:
    input:
        bcf=f"{OUTDIR}/normalised/{{cohort}}/{{chunk}}.bcf",
        cohorts=config["cohorts"],
        samples=config["samples"],
    output:
        counts=f"{OUTDIR}/counts/{{cohort}}/{{chunk}}.parquet",
        stats=f"{OUTDIR}/counts/{{cohort}}/{{chunk}}.stats.json",
    log:
        f"{OUTDIR}/logs/count/{{cohort}}/{{chunk}}.log",
    benchmark:
        f"{OUTDIR}/benchmarks/count/{{cohort}}/{{chunk}}.tsv"
    params:
        block_size=config["block_size"],
        build=config["reference"]["build"],
        par=par_option(),
        min_gq=qc_threshold("min_gq"),
        min_dp=qc_threshold("min_dp"),
        min_dp_haploid=qc_threshold("min_dp_haploid"),
        min_het_ab=qc_threshold("min_het_ab"),
    threads: 1
    resources:
        mem_mb=count_mem_mb,
        runtime=60,
    shell:
        "europanel count --cohorts {input.cohorts} --samples {input.samples}"
        " --cohort {wildcards.cohort} --bcf {input.bcf} --block-size {params.block_size}"
        " --build {params.build} {params.par}"
        " --min-gq {params.min_gq} --min-dp {params.min_dp}"
        " --min-dp-haploid {params.min_dp_haploid} --min-het-ab {params.min_het_ab}"
        " --output {output.counts} --stats {output.stats} > {log} 2>&1"
