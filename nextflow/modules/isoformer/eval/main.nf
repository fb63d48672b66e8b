process ISOFORMER_EVAL {
    tag "${meta.id}"
    label 'process_single'
    conda "${moduleDir}/environment.yml"
    container "ghcr.io/isoformer/isoformer:0.1.0"

    input:
    tuple val(meta), path(predictions), path(observed)

    output:
    tuple val(meta), path("${prefix}.eval.tsv"), emit: tsv
    tuple val(meta), path("${prefix}.eval.svg"), emit: svg
    tuple val("${task.process}"), val('isoformer'), eval("isoformer --version | sed 's/^isoformer //'"), topic: versions, emit: versions_isoformer

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    isoformer eval \\
        --pred ${predictions} \\
        --obs ${observed} \\
        ${args} \\
        --out ${prefix}
    """

    stub:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    echo "${args}"
    printf 'tissue\\tn\\tpearson\\tspearman\\n' > ${prefix}.eval.tsv
    printf '<svg xmlns="http://www.w3.org/2000/svg"/>\\n' > ${prefix}.eval.svg
    """
}
