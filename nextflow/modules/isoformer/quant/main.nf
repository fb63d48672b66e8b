process ISOFORMER_QUANT {
    tag "${meta.id}"
    label 'process_medium'
    conda "${moduleDir}/environment.yml"
    container "ghcr.io/isoformer/isoformer:0.1.0"

    input:
    tuple val(meta), path(bam), path(bai)
    tuple val(meta2), path(gtf)
    path(chrom_alias)   // optional, [] if none: UCSC chromAlias when the annotation and BAM name contigs differently

    output:
    tuple val(meta), path("${prefix}.quant.sf"), emit: quant
    tuple val(meta), path("${prefix}.genes.tsv"), emit: genes
    tuple val(meta), path("${prefix}.coverage*.bw"), emit: coverage, optional: true   // with --coverage in ext.args
    tuple val(meta), path("aux_info")              , emit: aux_info, optional: true   // with --num-bootstraps N in ext.args
    tuple val("${task.process}"), val('isoformer'), eval("isoformer --version | sed 's/^isoformer //'"), topic: versions, emit: versions_isoformer

    when:
    task.ext.when == null || task.ext.when

    script:
    def args      = task.ext.args ?: ''
    prefix        = task.ext.prefix ?: "${meta.id}"
    def alias_arg = chrom_alias ? "--chrom-alias ${chrom_alias}" : ''
    // meta.strandedness as nf-core/rnaseq's samplesheet gives it; absent or 'auto': detected from the reads
    def strand    = meta.strandedness == 'forward' ? 'fr' : meta.strandedness == 'reverse' ? 'rf' : meta.strandedness == 'unstranded' ? 'none' : 'auto'
    """
    isoformer quant \\
        --bam ${bam} \\
        --gtf ${gtf} \\
        ${alias_arg} \\
        --strand ${strand} \\
        --threads ${task.cpus} \\
        ${args} \\
        --out ${prefix}
    """

    stub:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    echo "${args}"
    printf 'Name\\tLength\\tEffectiveLength\\tTPM\\tNumReads\\n' > ${prefix}.quant.sf
    printf 'gene_id\\tTPM\\tNumReads\\n' > ${prefix}.genes.tsv
    touch ${prefix}.coverage.bw
    mkdir -p aux_info/bootstrap
    echo "" | gzip > aux_info/bootstrap/bootstraps.gz
    """
}
