process ISOFORMER_MERGE {
    tag "${meta.id}"
    label 'process_medium'
    conda "${moduleDir}/environment.yml"
    container "ghcr.io/isoformer/isoformer:0.1.0"

    input:
    tuple val(meta), path(shard_files, stageAs: 'shards/*')   // every shard's .predictions.tsv/.bed and .bw

    output:
    tuple val(meta), path("${prefix}.predictions.tsv"), emit: tsv
    tuple val(meta), path("${prefix}.predictions.bed"), emit: bed
    tuple val(meta), path("${prefix}.*.bw")           , emit: bigwig, optional: true
    tuple val("${task.process}"), val('isoformer'), eval("isoformer --version | sed 's/^isoformer //'"), topic: versions, emit: versions_isoformer

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    isoformer merge \\
        ${args} \\
        --out ${prefix} \\
        \$(ls shards/*.predictions.tsv | sed 's/\\.predictions\\.tsv\$//')
    """

    stub:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    echo "${args}"
    cat \$(ls shards/*.predictions.tsv | head -n 1) > ${prefix}.predictions.tsv
    cat \$(ls shards/*.predictions.bed | head -n 1) > ${prefix}.predictions.bed
    """
}
