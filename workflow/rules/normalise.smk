rule cohort_sheet:
    output:
        f"{OUTDIR}/sheets/{{cohort}}.samples.tsv",
    log:
        f"{OUTDIR}/logs/cohort_sheet/{{cohort}}.log",
    localrule: True
    conda:
        "../envs/normalise.yaml"
    params:
        europanel=EUROPANEL,
        sheet=config["samples"],
        # The cohort's rows are a parameter and the sheet is not an input: editing
        # one cohort's samples reruns that cohort only.
        rows=lambda wildcards: cohort_rows(wildcards.cohort),
    shell:
        "{params.europanel} cohort-sheet --cohort {wildcards.cohort} --samples {params.sheet}"
        " --output {output} > {log} 2>&1"
