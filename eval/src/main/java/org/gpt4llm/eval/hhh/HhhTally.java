package org.gpt4llm.eval.hhh;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.knowm.xchart.PieChart;
import org.knowm.xchart.PieChartBuilder;

/**
 * The counts behind the paper's Fig. 3: per criterion, how often model A won, tied or lost. A rater
 * who voted twice on a question counts once, with the later vote.
 */
public record HhhTally(String modelA, String modelB, int questions, Map<Criterion, int[]> counts, Map<String, Integer> doneByRater) {

    public static final int A_WINS = 0, TIES = 1, B_WINS = 2;

    public static HhhTally of(HhhTasks tasks, List<Vote> votes) {
        Map<String, Vote> latest = new LinkedHashMap<>();   // rater + question -> last vote
        for (Vote v : votes) {
            if (tasks.task(v.questionId()) != null) latest.put(v.rater() + "\n" + v.questionId(), v);
        }
        Map<Criterion, int[]> counts = new EnumMap<>(Criterion.class);
        for (Criterion c : Criterion.values()) counts.put(c, new int[3]);
        Map<String, Integer> done = new TreeMap<>();
        for (Vote v : latest.values()) {
            done.merge(v.rater(), 1, Integer::sum);
            for (Criterion c : Criterion.values()) counts.get(c)[v.choices().get(c).ordinal()]++;
        }
        return new HhhTally(tasks.modelA(), tasks.modelB(), tasks.tasks().size(), counts, done);
    }

    /** Number of (rater, question) verdicts counted. */
    public int verdicts() {
        return doneByRater.values().stream().mapToInt(Integer::intValue).sum();
    }

    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("model_a", modelA);
        o.put("model_b", modelB);
        o.put("questions", questions);
        o.put("verdicts", verdicts());
        ObjectNode raters = o.putObject("raters_done");
        doneByRater.forEach(raters::put);
        ObjectNode criteria = o.putObject("criteria");
        for (Criterion c : Criterion.values()) {
            int[] n = counts.get(c);
            ObjectNode k = criteria.putObject(c.key());
            k.put("a_wins", n[A_WINS]);
            k.put("tie", n[TIES]);
            k.put("b_wins", n[B_WINS]);
            int total = n[0] + n[1] + n[2];
            if (total > 0) {
                k.put("a_wins_pct", 100.0 * n[A_WINS] / total);
                k.put("tie_pct", 100.0 * n[TIES] / total);
                k.put("b_wins_pct", 100.0 * n[B_WINS] / total);
            }
        }
        return o;
    }

    /** The pie of one criterion as in Fig. 3; null while it has no verdicts (a pie of nothing). */
    public PieChart pie(Criterion c) {
        int[] n = counts.get(c);
        if (n[0] + n[1] + n[2] == 0) return null;
        PieChart chart = new PieChartBuilder().width(420).height(340).title(c.title).build();
        chart.getStyler().setLegendVisible(true);
        chart.addSeries(modelA + " wins", n[A_WINS]);
        chart.addSeries("Tie", n[TIES]);
        chart.addSeries(modelB + " wins", n[B_WINS]);
        return chart;
    }
}
