package org.gpt4llm.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.gpt4llm.backend.cuda.device.CudaDevice;
import org.gpt4llm.gpucheck.GpuCheckReport;
import org.gpt4llm.gpucheck.GpuChecks;
import org.gpt4llm.io.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code gpt4llm gpu-check}: the parts of bin/gpu-check that are Java. The script builds, runs the
 * tests with surefire and the benchmarks with this command line; these subcommands open the device
 * first, say which tests to run, and read everything back into one table and one JSON.
 */
@Command(name = "gpu-check", mixinStandardHelpOptions = true,
        description = {"The parts of bin/gpu-check that run in Java (run bin/gpu-check itself to check a GPU).",
                "device: open GPU 0 and load the fatbin; tests: the surefire -Dtest pattern of the check;"
                        + " report: one table and one JSON over the test reports and the benchmarks' JSON."},
        subcommands = {GpuCheckCommand.DeviceCheck.class, GpuCheckCommand.Tests.class, GpuCheckCommand.Report.class})
public final class GpuCheckCommand implements Runnable {
    @Override
    public void run() {
        picocli.CommandLine.usage(this, System.out);
    }

    @Command(name = "device", mixinStandardHelpOptions = true,
            description = "Open GPU 0 and load the fatbin: one line saying what it is, or one sentence saying why not.")
    static final class DeviceCheck implements Callable<Integer> {
        @Option(names = "--json", description = "also write the device's description to this JSON file")
        Path json;

        @Override
        public Integer call() throws Exception {
            try (CudaDevice d = CudaDevice.open(0)) {
                var info = new GpuCheckReport.DeviceInfo(d.describe(), d.kernelImage(), d.driverCuda().toString());
                System.out.println("GPU 0: " + info.description() + "; driver for CUDA " + info.driverCuda() + "; kernels: "
                        + info.kernelImage());
                if (json != null) AtomicFiles.writeJson(json.toAbsolutePath(), info);
            }
            return 0;
        }
    }

    @Command(name = "tests", mixinStandardHelpOptions = true,
            description = "Print the surefire -Dtest value that runs every test family of the check.")
    static final class Tests implements Callable<Integer> {
        @Override
        public Integer call() {
            System.out.println(GpuChecks.testPattern());
            return 0;
        }
    }

    @Command(name = "report", mixinStandardHelpOptions = true,
            description = "Read the check's results into one table (stdout) and one JSON; exit 1 when any line failed.")
    static final class Report implements Callable<Integer> {
        @Option(names = "--parts", required = true,
                description = "the script's steps, a line each: name TAB exit status TAB seconds TAB log file")
        Path parts;

        @Option(names = "--device", required = true, description = "the JSON `gpu-check device --json` wrote")
        Path device;

        @Option(names = "--surefire", required = true, split = ",",
                description = "surefire reports folders (TEST-*.xml), comma-separated or repeated")
        List<Path> surefire;

        @Option(names = "--measurements", description = "the -Dgpt4llm.measurements file of the test run")
        Path measurements;

        @Option(names = "--bench-kernels", required = true, description = "the JSON of bench kernels --backend cuda")
        Path benchKernels;

        @Option(names = "--bench-step", required = true, description = "the JSON of bench step --backend cuda")
        Path benchStep;

        @Option(names = "--json", required = true, description = "where to write the report's JSON")
        Path json;

        @Override
        public Integer call() throws Exception {
            GpuCheckReport.Report r = GpuCheckReport.build(new GpuCheckReport.Inputs(parts, device, surefire, measurements,
                    benchKernels, benchStep));
            System.out.print(GpuCheckReport.table(r));
            AtomicFiles.writeJson(json.toAbsolutePath(), r);
            System.out.println("wrote " + json);
            return r.ok() ? 0 : 1;
        }
    }
}
