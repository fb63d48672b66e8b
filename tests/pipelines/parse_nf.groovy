// Parses every Nextflow file given (no engine offline): Groovy's compiler up to the CONVERSION phase, i.e. the
// syntax tree, without resolving Nextflow's classes. Exit 1 when any file fails to parse.
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases

int failed = 0
args.each { path ->
    def unit = new CompilationUnit()
    unit.addSource(new File(path))
    try {
        unit.compile(Phases.CONVERSION)
        println "ok   ${path}"
    } catch (Exception e) {
        println "FAIL ${path}: ${e.message}"
        failed++
    }
}
System.exit(failed ? 1 : 0)
